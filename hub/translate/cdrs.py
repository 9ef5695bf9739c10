"""CDRs between 2.1.1 and 2.2.1.

2.1.1 mod_cdrs.md §3.1 against 2.2.1 "CDRs module" (CDR, CdrLocation). As for Sessions, the
token behind ``auth_id`` and the Location in 2.1.1 form come from the caller. A credit CDR is
withheld toward 2.1.1: "CDRs can not yet be updated or removed" there (2.1.1 mod_cdrs.md §1.1),
and a plain CDR would bill the driver instead of crediting him.

The CDR's ``tariffs`` are mapped by the caller's tariff functions (``tariff_up``/``tariff_down``
parameters), so that this module does not decide how Tariffs translate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from hub.translate.fields import JSON as JsonObject
from hub.translate.fields import same_contract
from hub.translate.losses import Loss, Rename, Withheld
from hub.translate.sessions import (
    AUTH_METHOD_DOWN,
    cdr_token,
    cut_location,
    location_references,
    periods_down,
    periods_up,
)

TariffMap = Callable[[JsonObject], JsonObject | Withheld]

# Same name and meaning in both versions (2.1.1 mod_cdrs.md §3.1).
_SHARED: Final = (
    "id",
    "start_date_time",
    "auth_method",
    "meter_id",
    "currency",
    "total_energy",
    "total_time",
    "total_parking_time",
    "remark",
    "last_updated",
)
# The parts of a 2.1.1 Location that a 2.2.1 CdrLocation carries under the same name.
_LOCATION_FIELDS: Final = ("id", "name", "address", "city", "postal_code", "country", "coordinates")
_CONNECTOR_FIELDS: Final = {
    "standard": "connector_standard",
    "format": "connector_format",
    "power_type": "connector_power_type",
}
# 2.1.1 CDR ids are CiString(36); 2.2.1 allows 39 (room for credit CDR suffixes).
MAX_ID_211: Final = 36
# A "Not Applicable" value, which 2.2.1 allows where data cannot exist (2.2.1 "Transport and
# format", #NA): a 2.1.1 EVSE without an ``evse_id`` has none.
NOT_APPLICABLE: Final = "#NA"

# Fields that only change their name (or shape, for the costs) between the versions.
RENAMES: Final[tuple[Rename, ...]] = (
    Rename("cdrs", "stop_date_time", "end_date_time"),
    Rename("cdrs", "auth_id", "cdr_token.contract_id"),
    Rename("cdrs", "total_cost", "total_cost.excl_vat"),
    Rename("cdrs", "location.id", "cdr_location.id"),
    Rename("cdrs", "location.name", "cdr_location.name"),
    Rename("cdrs", "location.address", "cdr_location.address"),
    Rename("cdrs", "location.city", "cdr_location.city"),
    Rename("cdrs", "location.postal_code", "cdr_location.postal_code"),
    Rename("cdrs", "location.country", "cdr_location.country"),
    Rename("cdrs", "location.coordinates", "cdr_location.coordinates"),
    Rename("cdrs", "location.evses[].uid", "cdr_location.evse_uid"),
    Rename("cdrs", "location.evses[].evse_id", "cdr_location.evse_id"),
    Rename("cdrs", "location.evses[].connectors[].id", "cdr_location.connector_id"),
    Rename("cdrs", "location.evses[].connectors[].standard", "cdr_location.connector_standard"),
    Rename("cdrs", "location.evses[].connectors[].format", "cdr_location.connector_format"),
    Rename("cdrs", "location.evses[].connectors[].power_type", "cdr_location.connector_power_type"),
)

LOSSES: Final[tuple[Loss, ...]] = (
    Loss("cdrs", "up", "country_code", "synthesized", "the CPO, from the URL"),
    Loss("cdrs", "up", "party_id", "synthesized", "as country_code"),
    Loss(
        "cdrs",
        "up",
        "cdr_token.country_code",
        "synthesized",
        "the token's eMSP: the hub's token for auth_id, a parameter; without it the CDR is "
        "withheld",
    ),
    Loss("cdrs", "up", "cdr_token.party_id", "synthesized", "as cdr_token.country_code"),
    Loss("cdrs", "up", "cdr_token.uid", "synthesized", "as cdr_token.country_code"),
    Loss("cdrs", "up", "cdr_token.type", "synthesized", "as cdr_token.country_code"),
    Loss(
        "cdrs",
        "up",
        "location",
        "dropped",
        "2.2.1 keeps the address, coordinates, EVSE and connector (cdr_location); type, "
        "opening times, other EVSE fields and the rest stay with the Location",
    ),
    Loss(
        "cdrs",
        "up",
        "cdr_location.evse_id",
        "synthesized",
        "#NA when the 2.1.1 EVSE has no evse_id (optional there, required in 2.2.1)",
    ),
    Loss("cdrs", "up", "charging_periods[].dimensions[]", "dropped", "FLAT dimensions"),
    Loss("cdrs", "up", "tariffs[]", "changed", "each as the Tariffs translation says"),
    Loss(
        "cdrs",
        "down",
        "*",
        "withheld",
        "credit CDRs (2.1.1 has no credit), and CDRs with an id longer than 36 characters",
    ),
    Loss("cdrs", "down", "country_code", "dropped", "2.1.1 carries the owner in the URL"),
    Loss("cdrs", "down", "party_id", "dropped", "as country_code"),
    Loss("cdrs", "down", "session_id", "dropped", "2.1.1 has none"),
    Loss("cdrs", "down", "cdr_token.country_code", "dropped", "2.1.1 has auth_id only"),
    Loss("cdrs", "down", "cdr_token.party_id", "dropped", "as cdr_token.country_code"),
    Loss("cdrs", "down", "cdr_token.uid", "dropped", "as cdr_token.country_code"),
    Loss("cdrs", "down", "cdr_token.type", "dropped", "as cdr_token.country_code"),
    Loss("cdrs", "down", "auth_method", "changed", "COMMAND becomes AUTH_REQUEST"),
    Loss("cdrs", "down", "authorization_reference", "dropped", "2.1.1 has none"),
    Loss("cdrs", "down", "cdr_location.state", "dropped", "2.1.1 Location has no state"),
    Loss(
        "cdrs",
        "down",
        "location",
        "synthesized",
        "the hub's copy of the Location in 2.1.1 form, cut to the CDR's EVSE and connector, "
        "with the CDR's own address, coordinates, evse_id and connector; a parameter, without "
        "it the CDR is withheld",
    ),
    Loss("cdrs", "down", "charging_periods[].tariff_id", "dropped", "2.1.1 has none"),
    Loss(
        "cdrs",
        "down",
        "charging_periods[].dimensions[]",
        "dropped",
        "dimension types 2.1.1 lacks",
    ),
    Loss("cdrs", "down", "tariffs[]", "changed", "each as the Tariffs translation says"),
    Loss("cdrs", "down", "tariffs[]", "dropped", "a tariff the Tariffs translation withholds"),
    Loss("cdrs", "down", "total_cost.incl_vat", "dropped", "a 2.1.1 cost excludes VAT"),
    Loss("cdrs", "down", "total_fixed_cost", "dropped", "2.1.1 has total_cost only"),
    Loss("cdrs", "down", "total_energy_cost", "dropped", "as total_fixed_cost"),
    Loss("cdrs", "down", "total_time_cost", "dropped", "as total_fixed_cost"),
    Loss("cdrs", "down", "total_parking_cost", "dropped", "as total_fixed_cost"),
    Loss("cdrs", "down", "total_reservation_cost", "dropped", "as total_fixed_cost"),
    Loss("cdrs", "down", "signed_data", "dropped", "2.1.1 has no signed meter values"),
    Loss("cdrs", "down", "invoice_reference_id", "dropped", "2.1.1 has none"),
    Loss("cdrs", "down", "home_charging_compensation", "dropped", "2.1.1 has none"),
    Loss(
        "cdrs",
        "up",
        "charging_periods[]",
        "dropped",
        "a period left without a dimension (dimensions is + in both versions)",
    ),
    Loss("cdrs", "down", "charging_periods[]", "dropped", "as up"),
)


def _pick(source: JsonObject, fields: tuple[str, ...]) -> JsonObject:
    return {name: source[name] for name in fields if name in source}


def _tariffs(tariffs: list[JsonObject], translate: TariffMap) -> list[JsonObject]:
    """The tariffs that translate; a withheld one is left out (the loss is the Tariff's)."""
    return [t for t in map(translate, tariffs) if not isinstance(t, Withheld)]


def cdr_location_up(location: JsonObject) -> JsonObject | None:
    """The 2.2.1 CdrLocation of a 2.1.1 Location holding only the CDR's EVSE and connector."""
    references = location_references(location)
    if references is None:
        return None
    evse, connector = location["evses"][0], location["evses"][0]["connectors"][0]
    up = _pick(location, _LOCATION_FIELDS)
    if "coordinates" in location:
        up["coordinates"] = _pick(location["coordinates"], ("latitude", "longitude"))
    up["evse_uid"], up["connector_id"] = references[1], references[2]
    up["evse_id"] = evse.get("evse_id") or NOT_APPLICABLE
    up.update({new: connector[old] for old, new in _CONNECTOR_FIELDS.items() if old in connector})
    return up


def cdr_up(
    cdr: JsonObject,
    *,
    country_code: str,
    party_id: str,
    token: JsonObject | None,
    tariff_up: TariffMap,
) -> JsonObject | Withheld:
    """A 2.1.1 CDR as 2.2.1. ``country_code``/``party_id`` are the CPO's; ``token`` is the
    hub's 2.2.1 Token (or CdrToken) whose ``contract_id`` is the CDR's ``auth_id``."""
    if token is None or not same_contract(token, cdr.get("auth_id")):
        return Withheld(f"no token known for auth_id {cdr.get('auth_id')!r}")
    location = cdr_location_up(cdr.get("location") or {})
    if location is None:
        return Withheld("the CDR's location names no EVSE and connector")
    up: JsonObject = {"country_code": country_code, "party_id": party_id}
    up.update(_pick(cdr, _SHARED))
    if "stop_date_time" in cdr:
        up["end_date_time"] = cdr["stop_date_time"]
    up["cdr_token"] = cdr_token(token)
    up["cdr_location"] = location
    if "tariffs" in cdr:
        up["tariffs"] = _tariffs(cdr["tariffs"] or [], tariff_up)
    up["charging_periods"] = periods_up(cdr.get("charging_periods") or [])
    if cdr.get("total_cost") is not None:
        up["total_cost"] = {"excl_vat": cdr["total_cost"]}
    return up


def location_down(cdr_location: JsonObject, location: JsonObject | None) -> JsonObject | None:
    """The 2.1.1 Location of a CDR: the hub's copy (2.1.1 form) cut to the CDR's EVSE and
    connector, with what the CDR itself recorded (address, coordinates, evse_id, connector)
    in place of the copy's current values, since that is what was charged at."""
    if location is None or location.get("id") != cdr_location.get("id"):
        return None
    cut = cut_location(
        location, cdr_location.get("evse_uid", ""), cdr_location.get("connector_id", "")
    )
    if cut is None:
        return None
    evse, connector = cut["evses"][0], cut["evses"][0]["connectors"][0]
    connector = {**connector, **_pick_renamed(cdr_location, _CONNECTOR_FIELDS)}
    evse = {**evse, "connectors": [connector]}
    if cdr_location.get("evse_id") not in (None, NOT_APPLICABLE):
        evse["evse_id"] = cdr_location["evse_id"]
    return {**cut, **_pick(cdr_location, _LOCATION_FIELDS), "evses": [evse]}


def _pick_renamed(source: JsonObject, names: dict[str, str]) -> JsonObject:
    """The fields of ``source`` named by the values of ``names``, under their keys."""
    return {old: source[new] for old, new in names.items() if new in source}


def cdr_down(
    cdr: JsonObject, *, location: JsonObject | None, tariff_down: TariffMap
) -> JsonObject | Withheld:
    """A 2.2.1 CDR as 2.1.1. ``location`` is the hub's copy of the CDR's Location in 2.1.1
    form."""
    if cdr.get("credit"):
        return Withheld("a credit CDR: 2.1.1 has no credit (2.1.1 mod_cdrs.md §1.1)")
    if len(cdr.get("id", "")) > MAX_ID_211:
        return Withheld("a CDR id longer than 2.1.1 allows (36)")
    method = AUTH_METHOD_DOWN.get(cdr.get("auth_method", ""))
    if method is None:
        return Withheld(f"auth_method {cdr.get('auth_method')!r} has no 2.1.1 equivalent")
    where = location_down(cdr.get("cdr_location") or {}, location)
    if where is None:
        return Withheld("no copy of the CDR's Location, EVSE and connector")
    down = _pick(cdr, _SHARED)
    down["auth_method"] = method
    if "end_date_time" in cdr:
        down["stop_date_time"] = cdr["end_date_time"]
    down["auth_id"] = (cdr.get("cdr_token") or {}).get("contract_id")
    down["location"] = where
    if "tariffs" in cdr:
        down["tariffs"] = _tariffs(cdr["tariffs"] or [], tariff_down)
    down["charging_periods"] = periods_down(cdr.get("charging_periods") or [])
    if cdr.get("total_cost") is not None:
        down["total_cost"] = cdr["total_cost"].get("excl_vat")
    return down
