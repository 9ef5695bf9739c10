"""OCPI 2.3.0 at the edges of the core (README: "OCPI 2.3.0 platforms"): which map of
``hub.translate.v230`` a call's shape takes, for requests and answers. 2.3.0 and 2.2.1 differ
only in their objects (routing, headers and status codes are the same), and every difference is
in the objects themselves, so nothing here reads what the hub keeps: pure.

"To the core" is 2.3.0 -> 2.2.1 (``hub.translate.v230``'s "down"), "from the core" the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import msgspec
import orjson

from hub.ocpi.v230 import cdrs as v230_cdrs
from hub.ocpi.v230 import locations as v230_locations
from hub.ocpi.v230 import sessions as v230_sessions
from hub.ocpi.v230 import tariffs as v230_tariffs
from hub.ocpi.v230 import tokens as v230_tokens
from hub.ocpi.versions import RECEIVER, SENDER
from hub.translate.fields import JSON, clean
from hub.translate.losses import Withheld
from hub.translate.v230 import cdrs, commands, locations, sessions, tariffs, tokens

Map = Callable[[JSON], JSON | Withheld]

# The direction of a translation, as ``hub.translate.v230`` names it (toward the newer version:
# up) and the metric counts it.
DOWN: Final = "down"
UP: Final = "up"

# Whole objects pushed to a Receiver interface, and PATCH fragments, by module: index 0 is the
# object, 1 and 2 a Location's EVSE and Connector.
_PUT_DOWN: Final[dict[str, tuple[Map, ...]]] = {
    "locations": (locations.location_down, locations.evse_down, locations.connector_down),
    "tariffs": (tariffs.tariff_down,),
    "tokens": (tokens.token_down,),
    "sessions": (sessions.session_down,),
}
_PUT_UP: Final[dict[str, tuple[Map, ...]]] = {
    "locations": (locations.location_up, locations.evse_up, locations.connector_up),
    "tariffs": (tariffs.tariff_up,),
    "tokens": (tokens.token_up,),
    "sessions": (sessions.session_up,),
}
_PATCH_DOWN: Final[dict[str, tuple[Map, ...]]] = {
    "locations": (
        locations.location_patch_down,
        locations.evse_patch_down,
        locations.connector_patch_down,
    ),
    "tokens": (tokens.token_patch_down,),
    "sessions": (sessions.session_patch_down,),
}
_PATCH_UP: Final[dict[str, tuple[Map, ...]]] = {
    "locations": (
        locations.location_patch_up,
        locations.evse_patch_up,
        locations.connector_patch_up,
    ),
    "tokens": (tokens.token_patch_up,),
    "sessions": (sessions.session_patch_up,),
}
# The objects a Sender interface answers a GET with.
_GOT_DOWN: Final[dict[str, Map]] = {
    "tariffs": tariffs.tariff_down,
    "tokens": tokens.token_down,
    "sessions": sessions.session_down,
    "cdrs": cdrs.cdr_down,
}
_GOT_UP: Final[dict[str, Map]] = {
    "tariffs": tariffs.tariff_up,
    "tokens": tokens.token_up,
    "sessions": sessions.session_up,
    "cdrs": cdrs.cdr_up,
}


def _depth(segments: list[str]) -> int:
    return min(max(0, len(segments) - 3), 2)


def request_map(
    module: str, interface: str, method: str, segments: list[str], *, to_core: bool
) -> Map | None:
    """The map of a request body of this shape, or None when the body is the same in both
    versions (or there is none)."""
    if interface == RECEIVER and method in ("PUT", "PATCH"):
        table = (_PUT_DOWN if to_core else _PUT_UP) if method == "PUT" else None
        if method == "PATCH":
            table = _PATCH_DOWN if to_core else _PATCH_UP
        assert table is not None
        maps = table.get(module)
        if maps is None:
            return None
        return maps[min(_depth(segments), len(maps) - 1)]
    if (module, interface, method) == ("cdrs", RECEIVER, "POST"):
        return cdrs.cdr_down if to_core else cdrs.cdr_up
    if (module, interface, method) == ("commands", RECEIVER, "POST") and segments:
        command = segments[0]
        if to_core:
            return lambda body: commands.request_down(command, body)
        return lambda body: commands.request_up(command, body)
    if (module, interface, method) == ("commands", SENDER, "POST"):
        return commands.result_down if to_core else commands.result_up
    return None


def answer_map(
    module: str, interface: str, method: str, segments: list[str], *, to_core: bool
) -> Map | None:
    """The map of each object of an answer's ``data`` to a call of this shape, or None."""
    if interface == SENDER and method == "GET":
        if module == "locations":
            ids = len(segments)
            index = 1 if ids == 2 else 2 if ids >= 3 else 0
            return (_PUT_DOWN if to_core else _PUT_UP)["locations"][index]
        return (_GOT_DOWN if to_core else _GOT_UP).get(module)
    if (module, interface, method) == ("tokens", SENDER, "POST"):
        return tokens.authorization_info_down if to_core else tokens.authorization_info_up
    if (module, interface, method) == ("commands", RECEIVER, "POST"):
        return commands.response_down if to_core else commands.response_up
    return None


# The objects whose fields a 2.3.0 platform may extend, by module (a Location's EVSE and
# Connector by depth), and the object of a real-time authorization's answer.
_OBJECTS: Final[dict[str, tuple[type[msgspec.Struct], ...]]] = {
    "locations": (v230_locations.Location, v230_locations.EVSE, v230_locations.Connector),
    "tariffs": (v230_tariffs.Tariff,),
    "tokens": (v230_tokens.Token,),
    "sessions": (v230_sessions.Session,),
    "cdrs": (v230_cdrs.CDR,),
}


def known_only(
    module: str, interface: str, method: str, segments: list[str], body: bytes, *, answer: bool
) -> bytes:
    """``body`` between two 2.3.0 platforms without the fields 2.3.0 does not define (unknown
    and extension fields, 2.3.0 §4.1.8: accepted from a platform, never passed on to another);
    the very bytes when it has none, as the official examples have none. ``answer``: the body
    is an answer's envelope."""
    kinds = _OBJECTS.get(module)
    if kinds is None or not body:
        return body
    try:
        found = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body
    if answer:
        if not isinstance(found, dict) or found.get("data") is None:
            return body
        if (module, interface, method) == ("tokens", SENDER, "POST"):
            kind: type[msgspec.Struct] = v230_tokens.AuthorizationInfo
        elif interface == SENDER and method == "GET":
            ids = len(segments)
            kind = (
                kinds[min(max(ids - 1, 0), len(kinds) - 1)] if module == "locations" else kinds[0]
            )
        else:
            return body
        data = found["data"]
        items = data if isinstance(data, list) else [data]
        cleaned = [_known(kind, item) for item in items]
        if cleaned == items:
            return body
        found["data"] = cleaned if isinstance(data, list) else cleaned[0]
        return orjson.dumps(found)
    if (
        interface != RECEIVER
        or method not in ("PUT", "PATCH", "POST")
        or not isinstance(found, dict)
    ):
        return body
    kind = kinds[min(max(len(segments) - 3, 0), len(kinds) - 1)]
    cleaned_one = _known(kind, found)
    return body if cleaned_one == found else orjson.dumps(cleaned_one)


def _known(kind: type[msgspec.Struct], item: object) -> object:
    if not isinstance(item, dict):
        return item
    try:
        return clean(kind, item)
    except msgspec.ValidationError:
        return item  # the receiver judges what is not even valid; nothing here to strip
