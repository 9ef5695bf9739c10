"""Sessions between 2.1.1 and 2.2.1, and the charging periods Sessions and CDRs share.

2.1.1 mod_sessions.md §3.1 against 2.2.1 "Sessions module" (Session object). What 2.2.1 needs
and 2.1.1 lacks comes from the caller: the CPO (the URL's owner), the eMSP's token behind the
2.1.1 ``auth_id``. What 2.1.1 needs and 2.2.1 lacks, the full ``location``, comes from the hub's
copy of the Location, already in 2.1.1 form. Without them the session is withheld, never guessed.
"""

from __future__ import annotations

from typing import Final

from hub.translate.fields import JSON as JsonObject
from hub.translate.fields import same_contract
from hub.translate.losses import Loss, Rename, Withheld

# Same name and meaning in both versions (2.1.1 mod_sessions.md §3.1).
_SHARED: Final = ("id", "kwh", "auth_method", "meter_id", "currency", "status", "last_updated")
_RENAMED_UP: Final = {"start_datetime": "start_date_time", "end_datetime": "end_date_time"}
_RENAMED_DOWN: Final = {new: old for old, new in _RENAMED_UP.items()}
_CDR_TOKEN: Final = ("country_code", "party_id", "uid", "type", "contract_id")

# 2.1.1 mod_cdrs.md §4.3 CdrDimensionType; FLAT is 2.1.1 only (2.2.1 bills it as a tariff).
DIMENSIONS_211: Final = frozenset(
    {"ENERGY", "FLAT", "MAX_CURRENT", "MIN_CURRENT", "PARKING_TIME", "TIME"}
)
_DIMENSIONS_UP: Final = DIMENSIONS_211 - {"FLAT"}
# 2.1.1 mod_cdrs.md §4.1 AuthMethod; COMMAND (2.2.1) is closest to an eMSP-side authorization.
AUTH_METHOD_DOWN: Final = {
    "AUTH_REQUEST": "AUTH_REQUEST",
    "WHITELIST": "WHITELIST",
    "COMMAND": "AUTH_REQUEST",
}
# 2.1.1 mod_sessions.md §4.1 SessionStatus; a reservation "has not yet started" (PENDING). The
# 2.2.1 text also says RESERVED (a typo for RESERVATION), so both are read.
_STATUS_DOWN: Final = {
    "ACTIVE": "ACTIVE",
    "COMPLETED": "COMPLETED",
    "INVALID": "INVALID",
    "PENDING": "PENDING",
    "RESERVATION": "PENDING",
    "RESERVED": "PENDING",
}

# Fields that only change their name (or shape, for the costs) between the versions.
RENAMES: Final[tuple[Rename, ...]] = (
    Rename("sessions", "start_datetime", "start_date_time"),
    Rename("sessions", "end_datetime", "end_date_time"),
    Rename("sessions", "auth_id", "cdr_token.contract_id"),
    Rename("sessions", "total_cost", "total_cost.excl_vat"),
    Rename("sessions", "location.id", "location_id"),
    Rename("sessions", "location.evses[].uid", "evse_uid"),
    Rename("sessions", "location.evses[].connectors[].id", "connector_id"),
)

LOSSES: Final[tuple[Loss, ...]] = (
    Loss("sessions", "up", "country_code", "synthesized", "the CPO, from the URL"),
    Loss("sessions", "up", "party_id", "synthesized", "as country_code"),
    Loss(
        "sessions",
        "up",
        "cdr_token.country_code",
        "synthesized",
        "the token's eMSP: the hub's "
        "token for auth_id, a parameter; without it the session is withheld",
    ),
    Loss("sessions", "up", "cdr_token.party_id", "synthesized", "as cdr_token.country_code"),
    Loss("sessions", "up", "cdr_token.uid", "synthesized", "as cdr_token.country_code"),
    Loss("sessions", "up", "cdr_token.type", "synthesized", "as cdr_token.country_code"),
    Loss(
        "sessions",
        "up",
        "location",
        "dropped",
        "2.2.1 refers to the Location by location_id, "
        "evse_uid and connector_id; the Location itself reaches the eMSP through Locations",
    ),
    Loss(
        "sessions",
        "up",
        "charging_periods[].dimensions[]",
        "dropped",
        "FLAT dimensions (2.2.1 has none)",
    ),
    Loss("sessions", "down", "country_code", "dropped", "2.1.1 carries the owner in the URL"),
    Loss("sessions", "down", "party_id", "dropped", "as country_code"),
    Loss(
        "sessions",
        "down",
        "cdr_token.country_code",
        "dropped",
        "2.1.1 names the token by auth_id (= contract_id) only",
    ),
    Loss("sessions", "down", "cdr_token.party_id", "dropped", "as cdr_token.country_code"),
    Loss("sessions", "down", "cdr_token.uid", "dropped", "as cdr_token.country_code"),
    Loss("sessions", "down", "cdr_token.type", "dropped", "as cdr_token.country_code"),
    Loss(
        "sessions",
        "down",
        "location",
        "synthesized",
        "the hub's copy of the Location in "
        "2.1.1 form, cut to the session's EVSE and connector; a parameter, without it the "
        "session is withheld",
    ),
    Loss("sessions", "down", "auth_method", "changed", "COMMAND becomes AUTH_REQUEST"),
    Loss("sessions", "down", "authorization_reference", "dropped", "2.1.1 has none"),
    Loss("sessions", "down", "charging_periods[].tariff_id", "dropped", "2.1.1 has none"),
    Loss(
        "sessions",
        "down",
        "charging_periods[].dimensions[]",
        "dropped",
        "dimension types "
        "2.1.1 lacks (CURRENT, ENERGY_EXPORT, ENERGY_IMPORT, MAX_POWER, MIN_POWER, POWER, "
        "RESERVATION_TIME, STATE_OF_CHARGE)",
    ),
    Loss("sessions", "down", "total_cost.incl_vat", "dropped", "a 2.1.1 cost excludes VAT"),
    Loss("sessions", "down", "status", "changed", "RESERVATION becomes PENDING"),
    Loss(
        "sessions",
        "up",
        "charging_periods[]",
        "dropped",
        "a period left without a dimension (dimensions is + in both versions)",
    ),
    Loss("sessions", "down", "charging_periods[]", "dropped", "as up"),
)


def _pick(source: JsonObject, fields: tuple[str, ...]) -> JsonObject:
    return {name: source[name] for name in fields if name in source}


def _renamed(source: JsonObject, names: dict[str, str]) -> JsonObject:
    return {new: source[old] for old, new in names.items() if old in source}


def periods_up(periods: list[JsonObject]) -> list[JsonObject]:
    """2.1.1 ChargingPeriods as 2.2.1 ones: FLAT dimensions go, and so does a period left
    without any (2.2.1 "ChargingPeriod": ``dimensions`` is ``+``)."""
    return _periods(periods, _DIMENSIONS_UP)


def periods_down(periods: list[JsonObject]) -> list[JsonObject]:
    """2.2.1 ChargingPeriods as 2.1.1 ones: no ``tariff_id``, only 2.1.1 dimension types."""
    return _periods(periods, DIMENSIONS_211)


def _periods(periods: list[JsonObject], kept: frozenset[str]) -> list[JsonObject]:
    result = []
    for period in periods:
        dimensions = [
            {"type": d.get("type"), "volume": d.get("volume")}
            for d in period.get("dimensions") or []
            if d.get("type") in kept
        ]
        if dimensions:
            result.append(
                {"start_date_time": period.get("start_date_time"), "dimensions": dimensions}
            )
    return result


def location_references(location: JsonObject) -> tuple[str, str, str] | None:
    """(location_id, evse_uid, connector_id) of a 2.1.1 Location that holds only the relevant
    EVSE and connector (2.1.1 mod_sessions.md §3.1 ``location``); None when it holds none."""
    evses = location.get("evses") or []
    connectors = (evses[0].get("connectors") or []) if evses else []
    if not connectors or "id" not in location:
        return None
    return (location["id"], evses[0]["uid"], connectors[0]["id"])


def cut_location(location: JsonObject, evse_uid: str, connector_id: str) -> JsonObject | None:
    """A 2.1.1 Location holding only the given EVSE and connector, as 2.1.1 Sessions and CDRs
    carry it; None when the Location has no such connector."""
    for evse in location.get("evses") or []:
        if evse.get("uid") != evse_uid:
            continue
        for connector in evse.get("connectors") or []:
            if connector.get("id") == connector_id:
                return {**location, "evses": [{**evse, "connectors": [connector]}]}
    return None


def cdr_token(token: JsonObject) -> JsonObject:
    """The CdrToken of a 2.2.1 Token (or of a CdrToken): owner, uid, type, contract_id."""
    return _pick(token, _CDR_TOKEN)


def session_up(
    session: JsonObject, *, country_code: str, party_id: str, token: JsonObject | None
) -> JsonObject | Withheld:
    """A 2.1.1 Session as 2.2.1. ``country_code``/``party_id`` are the CPO's; ``token`` is the
    hub's 2.2.1 Token (or CdrToken) whose ``contract_id`` is the session's ``auth_id``."""
    if token is None or not same_contract(token, session.get("auth_id")):
        return Withheld(f"no token known for auth_id {session.get('auth_id')!r}")
    references = location_references(session.get("location") or {})
    if references is None:
        return Withheld("the session's location names no EVSE and connector")
    up: JsonObject = {"country_code": country_code, "party_id": party_id}
    up.update(_pick(session, _SHARED))
    up.update(_renamed(session, _RENAMED_UP))
    up["cdr_token"] = cdr_token(token)
    up["location_id"], up["evse_uid"], up["connector_id"] = references
    if "charging_periods" in session:
        up["charging_periods"] = periods_up(session["charging_periods"])
    if session.get("total_cost") is not None:
        up["total_cost"] = {"excl_vat": session["total_cost"]}
    return up


def session_down(session: JsonObject, *, location: JsonObject | None) -> JsonObject | Withheld:
    """A 2.2.1 Session as 2.1.1. ``location`` is the hub's copy of the session's Location in
    2.1.1 form; it is cut to the session's EVSE and connector here."""
    status = _STATUS_DOWN.get(session.get("status", ""))
    method = AUTH_METHOD_DOWN.get(session.get("auth_method", ""))
    if status is None or method is None:
        return Withheld("a status or auth_method 2.1.1 cannot name")
    cut = None
    if location is not None and location.get("id") == session.get("location_id"):
        cut = cut_location(location, session.get("evse_uid", ""), session.get("connector_id", ""))
    if cut is None:
        return Withheld("no copy of the session's Location, EVSE and connector")
    down = _pick(session, _SHARED)
    down.update(_renamed(session, _RENAMED_DOWN))
    down.update(status=status, auth_method=method, location=cut)
    down["auth_id"] = session.get("cdr_token", {}).get("contract_id")
    if "charging_periods" in session:
        down["charging_periods"] = periods_down(session["charging_periods"])
    if session.get("total_cost") is not None:
        down["total_cost"] = session["total_cost"].get("excl_vat")
    return down


def session_patch_up(
    patch: JsonObject,
    *,
    received: str,
    kept: JsonObject | None,
    token: JsonObject | None = None,
) -> JsonObject | Withheld:
    """A 2.1.1 Session PATCH as a 2.2.1 one.

    ``kept`` is the 2.2.1 session as the hub last relayed it. A 2.1.1 PATCH replaces
    ``charging_periods`` (2.1.1 mod_sessions.md §2.2.3: fields sent are the new values) while
    a 2.2.1 PATCH appends them (2.2.1 "Sessions module", PATCH), so only the periods beyond the
    relayed ones are sent; if the relayed ones are not a prefix, a PATCH cannot say it and the
    caller must PUT the merged session. 2.2.1 requires ``last_updated`` in a PATCH: the receive
    time fills it when the 2.1.1 PATCH has none. ``token`` is needed when ``auth_id`` changes.
    """
    up = _pick(patch, _SHARED)
    up.update(_renamed(patch, _RENAMED_UP))
    if "auth_id" in patch:
        if token is None or not same_contract(token, patch["auth_id"]):
            return Withheld(f"no token known for auth_id {patch['auth_id']!r}")
        up["cdr_token"] = cdr_token(token)
    if "location" in patch:
        references = location_references(patch["location"] or {})
        if references is None:
            return Withheld("the session's location names no EVSE and connector")
        up["location_id"], up["evse_uid"], up["connector_id"] = references
    if "charging_periods" in patch:
        periods = periods_up(patch["charging_periods"] or [])
        relayed = (kept or {}).get("charging_periods") or []
        if kept is None or periods[: len(relayed)] != relayed:
            return Withheld("the charging periods replace relayed ones: PUT the merged session")
        up["charging_periods"] = periods[len(relayed) :]
    if patch.get("total_cost") is not None:
        up["total_cost"] = {"excl_vat": patch["total_cost"]}
    up.setdefault("last_updated", received)
    return up


def session_patch_down(
    patch: JsonObject, *, kept: JsonObject | None, location: JsonObject | None = None
) -> JsonObject | Withheld:
    """A 2.2.1 Session PATCH as a 2.1.1 one.

    ``kept`` is the 2.2.1 session as the hub held it before this PATCH. A 2.2.1 PATCH appends
    ``charging_periods``; a 2.1.1 receiver replaces them, so the whole list is sent. A change of
    ``location_id``, ``evse_uid`` or ``connector_id`` needs ``location`` (as ``session_down``).
    """
    down = _pick(patch, _SHARED)
    down.update(_renamed(patch, _RENAMED_DOWN))
    if "status" in patch:
        status = _STATUS_DOWN.get(patch["status"])
        if status is None:
            return Withheld(f"status {patch['status']!r} has no 2.1.1 equivalent")
        down["status"] = status
    if "auth_method" in patch:
        method = AUTH_METHOD_DOWN.get(patch["auth_method"])
        if method is None:
            return Withheld(f"auth_method {patch['auth_method']!r} has no 2.1.1 equivalent")
        down["auth_method"] = method
    if "cdr_token" in patch:
        down["auth_id"] = (patch["cdr_token"] or {}).get("contract_id")
    merged = {**(kept or {}), **patch}
    if {"location_id", "evse_uid", "connector_id"} & patch.keys():
        cut = None
        if location is not None and location.get("id") == merged.get("location_id"):
            cut = cut_location(location, merged.get("evse_uid", ""), merged.get("connector_id", ""))
        if cut is None:
            return Withheld("no copy of the session's Location, EVSE and connector")
        down["location"] = cut
    if "charging_periods" in patch:
        if kept is None:
            return Withheld("the relayed charging periods are unknown: a 2.1.1 PATCH replaces them")
        relayed = kept.get("charging_periods") or []
        down["charging_periods"] = periods_down(relayed + (patch["charging_periods"] or []))
    if patch.get("total_cost") is not None:
        down["total_cost"] = patch["total_cost"].get("excl_vat")
    return down
