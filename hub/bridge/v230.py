"""OCPI 2.3.0 at the edges of the core (README: "OCPI 2.3.0 platforms"): which map of
``hub.translate.v230`` a call's shape takes, for requests and answers. 2.3.0 and 2.2.1 differ
only in their objects (routing, headers and status codes are the same), and every difference is
in the objects themselves, so nothing here reads what the hub keeps: pure.

"To the core" is 2.3.0 -> 2.2.1 (``hub.translate.v230``'s "down"), "from the core" the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hub.ocpi.versions import RECEIVER, SENDER
from hub.translate.fields import JSON
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
