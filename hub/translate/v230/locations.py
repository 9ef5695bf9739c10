"""Locations between 2.3.0 (2.3.0 §8) and 2.2.1 (2.2.1 "Locations module").

Whole objects (a Location, or an EVSE or Connector PUT at its own depth) and PATCH fragments at
each depth. Up, 2.2.1 data is all valid 2.3.0 and is copied. Down, the 2.3.0 additions go
(parking places, EVSE parking references, ``help_phone``, ``accepted_service_providers``,
connector capabilities) and so does every OpenEnum value 2.2.1 does not list. A connector whose
standard 2.2.1 cannot name (MCS, SAE_J3400: J3400 is not TESLA_S, 2.3.0 §8.4.6) is dropped, and
an EVSE left without one with it (``connectors`` is ``+``). See ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import locations as v221
from hub.ocpi.tokens import TOKEN_TYPES
from hub.ocpi.v230 import locations as v230
from hub.translate.fields import JSON, check_whole, clean
from hub.translate.losses import Direction, Kind, Loss, Withheld
from hub.translate.v230.common import business_down, energy_mix_down, image_down, known

_M = "locations"


def _loss(direction: Direction, field: str, kind: Kind, why: str) -> Loss:
    return Loss(_M, direction, field, kind, why, "2.3.0")


_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    _loss("up", _UNKNOWN, "dropped", "not defined by 2.2.1: only spec fields are sent"),
    _loss(
        "down",
        "*",
        "withheld",
        "an EVSE or Connector (PUT or PATCH at its own depth) with no connector 2.2.1 can name",
    ),
    _loss("down", "parking_places", "dropped", "2.2.1 has no Parking object (AFIR data)"),
    _loss("down", "help_phone", "dropped", "2.2.1 has no `help_phone`"),
    _loss(
        "down",
        "parking_type",
        "dropped",
        "a ParkingType 2.2.1 does not list (an OpenEnum in 2.3.0)",
    ),
    _loss("down", "facilities", "dropped", "Facility values 2.2.1 does not list"),
    _loss(
        "down",
        "publish_allowed_to[]",
        "dropped",
        "an entry whose token `type` 2.2.1 does not list (e.g. EMAID): fewer see the "
        "Location, never more",
    ),
    _loss("down", "images[].category", "changed", "an ImageCategory 2.2.1 lacks becomes OTHER"),
    _loss("down", "operator.logo.category", "changed", "as images[].category"),
    _loss("down", "suboperator.logo.category", "changed", "as images[].category"),
    _loss("down", "owner.logo.category", "changed", "as images[].category"),
    _loss(
        "down",
        "energy_mix.environ_impact[]",
        "dropped",
        "an EnvironmentalImpactCategory 2.2.1 does not list",
    ),
    _loss("down", "evses[]", "dropped", "an EVSE left with no connector (2.2.1 needs one)"),
    _loss(
        "down",
        "evses[].parking",
        "dropped",
        "2.2.1 has no EVSEParking (the Parking objects do not go either)",
    ),
    _loss(
        "down",
        "evses[].accepted_service_providers",
        "dropped",
        "2.2.1 has no `accepted_service_providers`",
    ),
    _loss("down", "evses[].capabilities", "dropped", "Capability values 2.2.1 does not list"),
    _loss(
        "down",
        "evses[].parking_restrictions",
        "dropped",
        "EMPLOYEES, TAXIS, TENANTS and other values 2.2.1 lacks: the spot reads less restricted",
    ),
    _loss("down", "evses[].images[].category", "changed", "as images[].category"),
    _loss(
        "down",
        "evses[].connectors[]",
        "dropped",
        "a `standard` 2.2.1 does not list: MCS, SAE_J3400 (not TESLA_S) or another OpenEnum value",
    ),
    _loss(
        "down",
        "evses[].connectors[].capabilities",
        "dropped",
        "2.2.1 has no ConnectorCapability (ISO 15118 Plug & Charge)",
    ),
    _loss("down", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
)

_NO_CONNECTOR = "no connector 2.2.1 can name (e.g. only MCS or SAE_J3400)"


# --- down: 2.3.0 -> 2.2.1 -------------------------------------------------------------------


def location_down(location: Mapping[str, Any]) -> JSON:
    """A whole 2.3.0 Location as 2.2.1. EVSEs without a connector 2.2.1 can name are left out
    (``evses`` is ``*``: the Location itself always crosses)."""
    return check_whole(v221.Location, _location_down(clean(v230.Location, location)))


def evse_down(evse: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.3.0 EVSE (a PUT at EVSE depth) as 2.2.1."""
    body = _evse_down(clean(v230.EVSE, evse))
    if body is None:
        return Withheld(_NO_CONNECTOR)
    return check_whole(v221.EVSE, body)


def connector_down(connector: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.3.0 Connector (a PUT at Connector depth) as 2.2.1."""
    body = _connector_down(clean(v230.Connector, connector))
    if body is None:
        return Withheld(f"connector standard {connector.get('standard')!r} is not 2.2.1")
    return check_whole(v221.Connector, body)


def location_patch_down(fragment: Mapping[str, Any]) -> JSON:
    """A 2.3.0 Location PATCH body as 2.2.1. A PATCH of only 2.3.0 fields becomes one of only
    ``last_updated``, which is still a valid 2.2.1 PATCH."""
    return _location_down(clean(v230.Location, fragment))


def evse_patch_down(fragment: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 EVSE PATCH body as 2.2.1."""
    body = _evse_down(clean(v230.EVSE, fragment))
    if body is None:
        return Withheld(_NO_CONNECTOR)
    return body


def connector_patch_down(fragment: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 Connector PATCH body as 2.2.1."""
    body = _connector_down(clean(v230.Connector, fragment))
    if body is None:
        return Withheld(f"connector standard {fragment.get('standard')!r} is not 2.2.1")
    return body


_NEW_LOCATION_FIELDS: Final = frozenset({"parking_places", "help_phone"})
_NEW_EVSE_FIELDS: Final = frozenset({"parking", "accepted_service_providers"})


def _location_down(body: JSON) -> JSON:
    out: JSON = {}
    for name, value in body.items():
        if name in _NEW_LOCATION_FIELDS:
            continue
        if name == "parking_type":
            if value in v221.PARKING_TYPES:
                out[name] = value
        elif name == "facilities":
            out[name] = known(value, v221.FACILITIES)
        elif name == "publish_allowed_to":
            out[name] = [p for p in value if "type" not in p or p["type"] in TOKEN_TYPES]
        elif name == "images":
            out[name] = [image_down(i) for i in value]
        elif name in ("operator", "suboperator", "owner"):
            out[name] = business_down(value)
        elif name == "energy_mix":
            out[name] = energy_mix_down(value)
        elif name == "evses":
            out[name] = [e for e in map(_evse_down, value) if e is not None]
        else:
            out[name] = value
    return out


def _evse_down(body: JSON) -> JSON | None:
    """None: no connector is left, so 2.2.1 cannot carry the EVSE."""
    out: JSON = {}
    for name, value in body.items():
        if name in _NEW_EVSE_FIELDS:
            continue
        if name == "capabilities":
            out[name] = known(value, v221.CAPABILITIES)
        elif name == "parking_restrictions":
            out[name] = known(value, v221.PARKING_RESTRICTIONS)
        elif name == "images":
            out[name] = [image_down(i) for i in value]
        elif name == "connectors":
            out[name] = [c for c in map(_connector_down, value) if c is not None]
            if not out[name]:
                return None
        else:
            out[name] = value
    return out


def _connector_down(body: JSON) -> JSON | None:
    """None: a standard 2.2.1 does not list."""
    if body.get("standard", "CHADEMO") not in v221.CONNECTOR_TYPES:
        return None
    return {name: value for name, value in body.items() if name != "capabilities"}


# --- up: 2.2.1 -> 2.3.0 ---------------------------------------------------------------------
# Every 2.2.1 field and value exists in 2.3.0 with the same meaning (2.3.0 §18 changelog):
# only fields 2.2.1 does not define are left out.


def location_up(location: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 Location as 2.3.0."""
    return check_whole(v230.Location, clean(v221.Location, location))


def evse_up(evse: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 EVSE as 2.3.0."""
    return check_whole(v230.EVSE, clean(v221.EVSE, evse))


def connector_up(connector: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 Connector as 2.3.0."""
    return check_whole(v230.Connector, clean(v221.Connector, connector))


def location_patch_up(fragment: Mapping[str, Any]) -> JSON:
    """A 2.2.1 Location PATCH body as 2.3.0."""
    return clean(v221.Location, fragment)


def evse_patch_up(fragment: Mapping[str, Any]) -> JSON:
    """A 2.2.1 EVSE PATCH body as 2.3.0."""
    return clean(v221.EVSE, fragment)


def connector_patch_up(fragment: Mapping[str, Any]) -> JSON:
    """A 2.2.1 Connector PATCH body as 2.3.0."""
    return clean(v221.Connector, fragment)
