"""Reading what a 2.1.1 platform sends: which 2.1.1 object a call's body holds, by the call's
shape, and the body checked as that object (the 2.1.1 module chapters' objects in
``hub.ocpi.v211``), strict on types and required fields as the 2.2.1 reading is
(``hub.ocpi.calls``)."""

from __future__ import annotations

from typing import Any, Final, cast

import msgspec

from hub.ocpi.v211 import cdrs, commands, locations, sessions, tariffs, tokens
from hub.ocpi.validation import InvalidInputError, decode
from hub.ocpi.versions import RECEIVER

# The whole object a module's Receiver interface takes (a Location's EVSE and Connector by
# depth: ``RECEIVED_AT``) and a Sender interface answers a GET with.
OBJECTS: Final[dict[str, type[msgspec.Struct]]] = {
    "tariffs": tariffs.Tariff,
    "tokens": tokens.Token,
    "sessions": sessions.Session,
    "cdrs": cdrs.CDR,
}
# A Location, an EVSE, a Connector: by the ids below /{country_code}/{party_id} in a push.
RECEIVED_AT: Final[tuple[type[msgspec.Struct], ...]] = (
    locations.Location,
    locations.EVSE,
    locations.Connector,
)
# An EVSE and a Connector: by the ids of a GET on the Sender interface (location, EVSE,
# connector); fewer ids mean a Location.
ANSWERED_AT: Final[dict[int, type[msgspec.Struct]]] = {2: locations.EVSE, 3: locations.Connector}


def depth(segments: list[str]) -> int:
    """0 for a whole object below /{country_code}/{party_id}/{id}, 1 an EVSE, 2 a Connector."""
    return max(0, len(segments) - 3)


def request_kind(
    module: str, interface: str, method: str, segments: list[str]
) -> type[msgspec.Struct] | None:
    """The 2.1.1 object a 2.1.1 platform's request body holds, by the call's shape; None for a
    call without one (a GET, a DELETE) or one the routing core refuses anyway."""
    if method in ("GET", "DELETE"):
        return None
    if interface == RECEIVER:
        if module == "locations":
            return RECEIVED_AT[min(depth(segments), 2)]
        if module == "commands":
            return commands.COMMAND_REQUESTS.get(segments[0]) if segments else None
        return OBJECTS.get(module)
    if module == "tokens":
        return tokens.LocationReferences
    if module == "commands":
        return commands.CommandResponse
    return None


def answer_kind(module: str, ids: int) -> type[msgspec.Struct] | None:
    """The 2.1.1 object of a Sender interface's GET answer, by the number of ids in its URL."""
    if module == "locations":
        return ANSWERED_AT.get(ids, locations.Location)
    return OBJECTS.get(module)


def read(body: bytes, kind: type[msgspec.Struct], *, whole: bool) -> dict[str, Any]:
    """``body`` checked as a 2.1.1 ``kind``: a whole one (PUT, POST), or a PATCH fragment whose
    fields have their types (2.1.1 transport_and_format.md, PATCH). Raises
    ``InvalidInputError``."""
    if whole:
        return cast(dict[str, Any], msgspec.to_builtins(decode(body, kind)))
    fragment = decode(body, dict[str, Any])
    types = {f.encode_name: f.type for f in msgspec.structs.fields(kind)}
    for name, value in fragment.items():
        if name in types and value is not None:
            try:
                msgspec.convert(value, types[name])
            except msgspec.ValidationError as e:
                raise InvalidInputError(f"$.{name}", f"{e} - at `$.{name}`") from e
    return fragment
