"""Sessions module objects (2.2.1 "Sessions module"), with the CDR parts Session shares.

CdrToken, ChargingPeriod and CdrDimension are defined in the spec's CDRs chapter but used by
Session as well; they live here and ``hub.ocpi.cdrs`` re-exports them. See ``hub.ocpi.common``
for the rules every object here follows.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, Object, PartyId, Price

SESSION_STATUSES: Final = frozenset({"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"})
AUTH_METHODS: Final = frozenset({"AUTH_REQUEST", "COMMAND", "WHITELIST"})
CDR_DIMENSION_TYPES: Final = frozenset(
    {
        "CURRENT",
        "ENERGY",
        "ENERGY_EXPORT",
        "ENERGY_IMPORT",
        "MAX_CURRENT",
        "MIN_CURRENT",
        "MAX_POWER",
        "MIN_POWER",
        "PARKING_TIME",
        "POWER",
        "RESERVATION_TIME",
        "STATE_OF_CHARGE",
        "TIME",
    }
)
PROFILE_TYPES: Final = frozenset({"CHEAP", "FAST", "GREEN", "REGULAR"})

# The answer to PUT {sessions}/{session_id}/charging_preferences: ``data`` is a bare string.
ChargingPreferencesResponse = str
CHARGING_PREFERENCES_RESPONSES: Final = frozenset(
    {
        "ACCEPTED",
        "DEPARTURE_REQUIRED",
        "ENERGY_NEED_REQUIRED",
        "NOT_POSSIBLE",
        "PROFILE_TYPE_NOT_SUPPORTED",
    }
)


class CdrToken(Object, kw_only=True):
    country_code: CountryCode  # of the eMSP that owns the token (new in 2.2.1)
    party_id: PartyId
    uid: str
    type: str  # TokenType
    contract_id: str


class CdrDimension(Object, kw_only=True):
    type: str  # CdrDimensionType
    volume: float


class ChargingPeriod(Object, kw_only=True):
    start_date_time: DateTime
    dimensions: list[CdrDimension]  # +
    tariff_id: str | None = None


class Session(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId  # the CPO
    id: str
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: float
    cdr_token: CdrToken
    auth_method: str  # AuthMethod
    authorization_reference: str | None = None
    location_id: str
    evse_uid: str  # "#NA" for a reservation without an EVSE
    connector_id: str  # "#NA" likewise
    meter_id: str | None = None
    currency: str  # ISO 4217
    # PATCH with charging_periods appends them; PUT replaces them.
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: str  # SessionStatus
    last_updated: DateTime


class ChargingPreferences(Object, kw_only=True):
    profile_type: str  # ProfileType
    departure_time: DateTime | None = None
    energy_need: float | None = None  # kWh
    discharge_allowed: bool | None = None
