"""Locations between 2.1.1 (2.1.1 mod_locations.md §3) and 2.2.1 (2.2.1 "Locations module").

Whole objects (a Location, or an EVSE or Connector PUT at its own depth) and PATCH fragments at
each depth. The 2.1.1 owner is not in the object (it is the URL's ``{country_code}/{party_id}``),
so going up the caller passes it. Every function returns ``Withheld`` rather than an object
that would mean something else on the other side; see ``LOSSES``.

Inputs are decoded JSON; a field of the wrong type raises ``msgspec.ValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import locations as v221
from hub.ocpi.common import PartyKey
from hub.ocpi.v211 import locations as v211
from hub.translate.fields import JSON, Unrepresentable, check_whole, clean, six_decimals
from hub.translate.losses import Loss, Rename, Withheld

# The 2.2.1 tariffs of the Location's owner, by id: ``tariff_ids`` down keeps one of them.
Tariffs = Mapping[str, Mapping[str, Any]]

# LocationType (2.1.1 §4.16) and ParkingType (2.2.1) share these four values.
_SHARED_PARKING: Final = frozenset(
    {"ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT"}
)
# 2.2.1 power types 2.1.1 lacks, and the closest 2.1.1 one.
_POWER_DOWN: Final = {"AC_2_PHASE": "AC_1_PHASE", "AC_2_PHASE_SPLIT": "AC_1_PHASE"}
_MAX_ID: Final = 36  # 2.2.1 ids are CiString(36); 2.1.1 Location and EVSE ids string(39)

_M = "locations"
RENAMES: Final = (
    Rename(_M, "type", "parking_type"),
    Rename(_M, "evses[].connectors[].voltage", "evses[].connectors[].max_voltage"),
    Rename(_M, "evses[].connectors[].amperage", "evses[].connectors[].max_amperage"),
    Rename(_M, "evses[].connectors[].tariff_id", "evses[].connectors[].tariff_ids[]"),
    Rename(_M, "energy_mix.environ_impact[].source", "energy_mix.environ_impact[].category"),
)
_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    Loss(
        _M,
        "up",
        "*",
        "withheld",
        "an id or EVSE uid longer than 36 characters (2.2.1 "
        "CiString(36)), or no `time_zone` and no default for the CPO",
    ),
    Loss(_M, "up", "country_code", "synthesized", "the owner from the URL (the caller's party)"),
    Loss(_M, "up", "party_id", "synthesized", "the owner from the URL (the caller's party)"),
    Loss(
        _M,
        "up",
        "publish",
        "synthesized",
        "`true`: 2.1.1 has no `publish`; every pushed Location is public",
    ),
    Loss(
        _M,
        "up",
        "type",
        "changed",
        "`OTHER` and `UNKNOWN` have no ParkingType: `parking_type` is left out",
    ),
    Loss(
        _M,
        "up",
        "time_zone",
        "synthesized",
        "optional in 2.1.1, required in 2.2.1: the "
        "caller's default for the CPO, else the Location is withheld",
    ),
    Loss(
        _M,
        "up",
        "opening_times.twentyfourseven",
        "synthesized",
        "required in 2.2.1: `false` when 2.1.1 gives `regular_hours`",
    ),
    Loss(
        _M,
        "up",
        "opening_times.regular_hours[].period_end",
        "changed",
        '"24:00" (allowed by the 2.1.1-d2 regex, not by 2.2.1) becomes "23:59"',
    ),
    Loss(_M, "up", "evses[]", "dropped", "an EVSE left with no connector (2.2.1 needs one)"),
    Loss(
        _M,
        "up",
        "evses[].capabilities",
        "dropped",
        "`CHARGING_PROFILE_CAPABLE`: 2.1.1 says "
        '"not yet supported by OCPI"; a 2.1.1 CPO takes no charging profiles',
    ),
    Loss(
        _M,
        "up",
        "evses[].connectors[]",
        "dropped",
        "a `standard` or `power_type` 2.2.1 does not define",
    ),
    Loss(
        _M,
        "up",
        "last_updated",
        "synthesized",
        "PATCH only: a 2.1.1 PATCH may leave it out, 2.2.1 requires it: the hub's receive time",
    ),
    Loss(_M, "up", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
    Loss(
        _M,
        "down",
        "*",
        "withheld",
        "`publish` false (2.1.1 cannot restrict who sees a "
        "Location), or a PATCH that changes `publish` (send the whole Location instead)",
    ),
    Loss(_M, "down", "country_code", "dropped", "2.1.1 has no owner fields: the URL carries it"),
    Loss(_M, "down", "party_id", "dropped", "2.1.1 has no owner fields: the URL carries it"),
    Loss(_M, "down", "publish", "dropped", "2.1.1 has no `publish` (only true ones are sent)"),
    Loss(_M, "down", "publish_allowed_to", "dropped", "2.1.1 has no `publish_allowed_to`"),
    Loss(_M, "down", "state", "dropped", "2.1.1 has no `state`"),
    Loss(
        _M, "down", "parking_type", "changed", "`ALONG_MOTORWAY` and `ON_DRIVEWAY` become `OTHER`"
    ),
    Loss(_M, "down", "type", "synthesized", "no `parking_type`: `UNKNOWN`, 2.1.1's default"),
    Loss(
        _M,
        "down",
        "postal_code",
        "synthesized",
        "optional in 2.2.1, required in 2.1.1: an empty string (2.1.1 has no #NA)",
    ),
    Loss(
        _M,
        "down",
        "coordinates",
        "changed",
        "exactly 6 decimals (2.1.1 regex; 2.2.1 allows 5 to 7)",
    ),
    Loss(_M, "down", "related_locations[]", "changed", "coordinates with exactly 6 decimals"),
    Loss(
        _M,
        "down",
        "facilities",
        "dropped",
        "`BIKE_SHARING`, `METRO_STATION`, `PARKING_LOT`, `TRAM_STOP` are not 2.1.1 facilities",
    ),
    Loss(
        _M,
        "down",
        "opening_times.twentyfourseven",
        "dropped",
        "`false` is left out: 2.1.1 Hours is a choice of `regular_hours` or `twentyfourseven`",
    ),
    Loss(
        _M,
        "down",
        "opening_times.regular_hours",
        "dropped",
        "left out when `twentyfourseven` is true (the 2.1.1 choice)",
    ),
    Loss(
        _M,
        "down",
        "opening_times.regular_hours",
        "synthesized",
        "`[]` when `twentyfourseven` is false and no hours are given (the 2.1.1 choice needs one)",
    ),
    Loss(_M, "down", "evses[]", "dropped", "an EVSE left with no connector (2.1.1 needs one)"),
    Loss(
        _M,
        "down",
        "evses[].capabilities",
        "dropped",
        "the 7 values 2.1.1 lacks, e.g. `CHIP_CARD_SUPPORT`, `TOKEN_GROUP_CAPABLE`",
    ),
    Loss(_M, "down", "evses[].coordinates", "changed", "exactly 6 decimals (2.1.1 regex)"),
    Loss(
        _M,
        "down",
        "evses[].connectors[]",
        "dropped",
        "a `standard` 2.1.1 lacks (e.g. `CHAOJI`, `GBT_*`, `NEMA_*`, `PANTOGRAPH_*`)",
    ),
    Loss(
        _M,
        "down",
        "evses[].connectors[].power_type",
        "changed",
        "`AC_2_PHASE` and `AC_2_PHASE_SPLIT` become `AC_1_PHASE`, the closest 2.1.1 value",
    ),
    Loss(
        _M, "down", "evses[].connectors[].max_electric_power", "dropped", "2.1.1 has no such field"
    ),
    Loss(
        _M,
        "down",
        "evses[].connectors[].tariff_ids[]",
        "changed",
        "2.1.1 has one "
        "`tariff_id`: the first untyped or `REGULAR` tariff the caller knows, else the first "
        "id; the others are lost",
    ),
    Loss(_M, "down", _UNKNOWN, "dropped", "not defined by 2.1.1 (its enums are closed)"),
)


# --- up: 2.1.1 -> 2.2.1 ---------------------------------------------------------------------


def location_up(
    location: Mapping[str, Any], owner: PartyKey, *, time_zone: str | None = None
) -> JSON | Withheld:
    """A whole 2.1.1 Location as 2.2.1. ``owner`` is the URL's (country_code, party_id);
    ``time_zone`` is the caller's default for the CPO, used when the Location has none."""
    try:
        body = _location_up(clean(v211.Location, location))
        if "time_zone" not in body:
            if time_zone is None:
                raise Unrepresentable("no time_zone (required in 2.2.1) and no default")
            body["time_zone"] = time_zone
    except Unrepresentable as error:
        return Withheld(error.why)
    whole = {"country_code": owner[0], "party_id": owner[1], "publish": True, **body}
    return check_whole(v221.Location, whole)


def evse_up(evse: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.1.1 EVSE (a PUT at EVSE depth) as 2.2.1."""
    try:
        body = _evse_up(clean(v211.EVSE, evse))
    except Unrepresentable as error:
        return Withheld(error.why)
    if body is None:
        return Withheld("no connector 2.2.1 can carry")
    return check_whole(v221.EVSE, body)


def connector_up(connector: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.1.1 Connector (a PUT at Connector depth) as 2.2.1."""
    body = _connector_up(clean(v211.Connector, connector))
    if body is None:
        return Withheld("a standard or power_type 2.2.1 does not define")
    return check_whole(v221.Connector, body)


def location_patch_up(fragment: Mapping[str, Any], *, received_at: str) -> JSON | Withheld:
    """A 2.1.1 Location PATCH body as 2.2.1. ``received_at`` (RFC 3339) becomes
    ``last_updated`` when the fragment has none (2.2.1 requires it in a PATCH)."""
    try:
        return _stamped(_location_up(clean(v211.Location, fragment)), received_at)
    except Unrepresentable as error:
        return Withheld(error.why)


def evse_patch_up(fragment: Mapping[str, Any], *, received_at: str) -> JSON | Withheld:
    """A 2.1.1 EVSE PATCH body as 2.2.1 (see ``location_patch_up``)."""
    try:
        body = _evse_up(clean(v211.EVSE, fragment))
    except Unrepresentable as error:
        return Withheld(error.why)
    if body is None:
        return Withheld("no connector 2.2.1 can carry")
    return _stamped(body, received_at)


def connector_patch_up(fragment: Mapping[str, Any], *, received_at: str) -> JSON | Withheld:
    """A 2.1.1 Connector PATCH body as 2.2.1 (see ``location_patch_up``)."""
    body = _connector_up(clean(v211.Connector, fragment))
    if body is None:
        return Withheld("a standard or power_type 2.2.1 does not define")
    return _stamped(body, received_at)


def _stamped(body: JSON, received_at: str) -> JSON:
    body.setdefault("last_updated", received_at)
    return body


def _location_up(body: JSON) -> JSON:
    out: JSON = {}
    for name, value in body.items():
        if name == "id":
            out[name] = _id_up(value, "Location id")
        elif name == "type":
            if value in _SHARED_PARKING:
                out["parking_type"] = value
        elif name == "evses":
            out[name] = [e for e in map(_evse_up, value) if e is not None]
        elif name == "facilities":
            out[name] = [f for f in value if f in v221.FACILITIES]
        elif name == "opening_times":
            out[name] = _hours_up(value)
        elif name == "energy_mix":
            out[name] = energy_mix_up(value)
        else:
            out[name] = value
    return out


def _evse_up(body: JSON) -> JSON | None:
    """None: no connector is left, so 2.2.1 cannot carry the EVSE (``connectors`` is ``+``)."""
    out: JSON = {}
    for name, value in body.items():
        if name == "uid":
            out[name] = _id_up(value, "EVSE uid")
        elif name == "capabilities":
            # In 2.1.1 this value means "not yet supported by OCPI" (2.1.1 mod_locations.md
            # §4.2): a 2.2.1 eMSP must not send charging profiles toward a 2.1.1 CPO.
            out[name] = [
                c for c in value if c in v221.CAPABILITIES and c != "CHARGING_PROFILE_CAPABLE"
            ]
        elif name == "connectors":
            out[name] = [c for c in map(_connector_up, value) if c is not None]
            if not out[name]:
                return None
        elif name == "parking_restrictions":
            out[name] = [r for r in value if r in v221.PARKING_RESTRICTIONS]
        else:
            out[name] = value
    return out


def _connector_up(body: JSON) -> JSON | None:
    """None: a standard or power type 2.2.1 does not define."""
    if body.get("standard", "CHADEMO") not in v221.CONNECTOR_TYPES:
        return None
    if body.get("power_type", "DC") not in v221.POWER_TYPES:
        return None
    out: JSON = {}
    for name, value in body.items():
        if name == "voltage":
            out["max_voltage"] = value
        elif name == "amperage":
            out["max_amperage"] = value
        elif name == "tariff_id":
            out["tariff_ids"] = [value]
        else:
            out[name] = value
    return out


def _id_up(value: str, what: str) -> str:
    if len(value) > _MAX_ID:
        raise Unrepresentable(f"{what} {value!r} is longer than {_MAX_ID} characters")
    return value


def _hours_up(hours: JSON) -> JSON:
    out = dict(hours)
    out.setdefault("twentyfourseven", False)
    if "regular_hours" in out:
        out["regular_hours"] = [
            {**r, "period_end": "23:59" if r["period_end"] == "24:00" else r["period_end"]}
            for r in out["regular_hours"]
        ]
    return out


def energy_mix_up(mix: JSON) -> JSON:
    """2.1.1 EnvironmentalImpact ``source`` is 2.2.1's ``category`` (renamed, 2.2.1
    "Changelog"); Tariffs use the same EnergyMix."""
    if "environ_impact" not in mix:
        return mix
    impacts = [
        {("category" if k == "source" else k): v for k, v in i.items()}
        for i in mix["environ_impact"]
    ]
    return {**mix, "environ_impact": impacts}


# --- down: 2.2.1 -> 2.1.1 -------------------------------------------------------------------


def location_down(
    location: Mapping[str, Any], *, tariffs: Tariffs | None = None
) -> JSON | Withheld:
    """A whole 2.2.1 Location as 2.1.1. ``tariffs``: the owner's 2.2.1 tariffs by id, to pick
    the one ``tariff_id`` of each connector."""
    body = clean(v221.Location, location)
    if body.get("publish") is False:
        return Withheld("publish is false: 2.1.1 cannot restrict who sees a Location")
    out = _location_down(body, tariffs)
    out.setdefault("type", "UNKNOWN")
    out.setdefault("postal_code", "")
    return check_whole(v211.Location, out)


def evse_down(evse: Mapping[str, Any], *, tariffs: Tariffs | None = None) -> JSON | Withheld:
    """A whole 2.2.1 EVSE (a PUT at EVSE depth) as 2.1.1."""
    body = _evse_down(clean(v221.EVSE, evse), tariffs)
    if body is None:
        return Withheld("no connector 2.1.1 can carry")
    return check_whole(v211.EVSE, body)


def connector_down(
    connector: Mapping[str, Any], *, tariffs: Tariffs | None = None
) -> JSON | Withheld:
    """A whole 2.2.1 Connector (a PUT at Connector depth) as 2.1.1."""
    body = _connector_down(clean(v221.Connector, connector), tariffs)
    if body is None:
        return Withheld("a standard or power_type 2.1.1 does not define")
    return check_whole(v211.Connector, body)


def location_patch_down(
    fragment: Mapping[str, Any], *, tariffs: Tariffs | None = None
) -> JSON | Withheld:
    """A 2.2.1 Location PATCH body as 2.1.1."""
    body = clean(v221.Location, fragment)
    if "publish" in body:
        # Unpublished Locations never reached the 2.1.1 side, and one that becomes
        # unpublished cannot be hidden there: either way only the whole object can say it.
        return Withheld("the PATCH changes publish: send the whole Location instead")
    return _location_down(body, tariffs)


def evse_patch_down(
    fragment: Mapping[str, Any], *, tariffs: Tariffs | None = None
) -> JSON | Withheld:
    """A 2.2.1 EVSE PATCH body as 2.1.1."""
    body = _evse_down(clean(v221.EVSE, fragment), tariffs)
    if body is None:
        return Withheld("no connector 2.1.1 can carry")
    return body


def connector_patch_down(
    fragment: Mapping[str, Any], *, tariffs: Tariffs | None = None
) -> JSON | Withheld:
    """A 2.2.1 Connector PATCH body as 2.1.1."""
    body = _connector_down(clean(v221.Connector, fragment), tariffs)
    if body is None:
        return Withheld("a standard or power_type 2.1.1 does not define")
    return body


_OWNER_ONLY: Final = frozenset(
    {"country_code", "party_id", "publish", "publish_allowed_to", "state"}
)


def _location_down(body: JSON, tariffs: Tariffs | None) -> JSON:
    out: JSON = {}
    for name, value in body.items():
        if name in _OWNER_ONLY:
            continue
        if name == "parking_type":
            out["type"] = value if value in _SHARED_PARKING else "OTHER"
        elif name == "coordinates":
            out[name] = _geo_down(value)
        elif name == "related_locations":
            out[name] = [_geo_down(g) for g in value]
        elif name == "evses":
            out[name] = [e for e in (_evse_down(x, tariffs) for x in value) if e is not None]
        elif name == "facilities":
            out[name] = [f for f in value if f in v211.FACILITIES]
        elif name == "opening_times":
            out[name] = _hours_down(value)
        elif name == "energy_mix":
            out[name] = energy_mix_down(value)
        else:
            out[name] = value
    return out


def _evse_down(body: JSON, tariffs: Tariffs | None) -> JSON | None:
    """None: no connector is left, so 2.1.1 cannot carry the EVSE (``connectors`` is ``+``)."""
    out: JSON = {}
    for name, value in body.items():
        if name == "capabilities":
            out[name] = [c for c in value if c in v211.CAPABILITIES]
        elif name == "connectors":
            kept = (_connector_down(c, tariffs) for c in value)
            out[name] = [c for c in kept if c is not None]
            if not out[name]:
                return None
        elif name == "parking_restrictions":
            out[name] = [r for r in value if r in v211.PARKING_RESTRICTIONS]
        elif name == "coordinates":
            out[name] = _geo_down(value)
        else:
            out[name] = value
    return out


def _connector_down(body: JSON, tariffs: Tariffs | None) -> JSON | None:
    """None: a standard or power type 2.1.1 does not define."""
    if body.get("standard", "CHADEMO") not in v211.CONNECTOR_TYPES:
        return None
    power = body.get("power_type")
    if power is not None:
        power = _POWER_DOWN.get(power, power)
        if power not in v211.POWER_TYPES:
            return None
    out: JSON = {}
    for name, value in body.items():
        if name == "power_type":
            out[name] = power
        elif name == "max_voltage":
            out["voltage"] = value
        elif name == "max_amperage":
            out["amperage"] = value
        elif name == "tariff_ids":
            chosen = _one_tariff(value, tariffs)
            if chosen is not None:
                out["tariff_id"] = chosen
        elif name != "max_electric_power":
            out[name] = value
    return out


def _one_tariff(ids: list[str], tariffs: Tariffs | None) -> str | None:
    """2.1.1 has one ``tariff_id``. A tariff without ``type`` or of type REGULAR applies to
    every session (2.2.1 "TariffType"), so it is the one a 2.1.1 eMSP should price with."""
    for tariff_id in ids:
        tariff = (tariffs or {}).get(tariff_id)
        if tariff is not None and tariff.get("type") in (None, "REGULAR"):
            return tariff_id
    return ids[0] if ids else None


def _geo_down(point: JSON) -> JSON:
    return {
        **point,
        "latitude": six_decimals(point["latitude"]),
        "longitude": six_decimals(point["longitude"]),
    }


def _hours_down(hours: JSON) -> JSON:
    out = dict(hours)
    if out.pop("twentyfourseven", False):
        out.pop("regular_hours", None)
        return {"twentyfourseven": True, **out}
    out.setdefault("regular_hours", [])
    return out


def energy_mix_down(mix: JSON) -> JSON:
    """The reverse of ``energy_mix_up``."""
    if "environ_impact" not in mix:
        return mix
    impacts = [
        {("source" if k == "category" else k): v for k, v in i.items()}
        for i in mix["environ_impact"]
    ]
    return {**mix, "environ_impact": impacts}
