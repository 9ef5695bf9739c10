"""Sessions module objects (2.1.1 mod_sessions.md §3, §4), with the CDR parts Session shares.

ChargingPeriod and CdrDimension are defined in 2.1.1 mod_cdrs.md §4 but used by Session as well;
they live here and ``hub.ocpi.v211.cdrs`` re-exports them. 2.1.1 names the token by ``auth_id``
(no owner) and carries the whole Location, cut to the session's EVSE and connector.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.v211.common import DateTime, Object
from hub.ocpi.v211.locations import Location

# §4.1 SessionStatus: no RESERVATION (2.2.1 added it).
SESSION_STATUSES: Final = frozenset({"ACTIVE", "COMPLETED", "INVALID", "PENDING"})
# 2.1.1 mod_cdrs.md §4.1 AuthMethod: no COMMAND (2.2.1 added it).
AUTH_METHODS: Final = frozenset({"AUTH_REQUEST", "WHITELIST"})
# 2.1.1 mod_cdrs.md §4.3 CdrDimensionType: FLAT exists here only.
CDR_DIMENSION_TYPES: Final = frozenset(
    {"ENERGY", "FLAT", "MAX_CURRENT", "MIN_CURRENT", "PARKING_TIME", "TIME"}
)


class CdrDimension(Object, kw_only=True):
    """2.1.1 mod_cdrs.md §4.2."""

    type: str  # CdrDimensionType
    volume: float


class ChargingPeriod(Object, kw_only=True):
    """2.1.1 mod_cdrs.md §4.4 (no ``tariff_id``, which 2.2.1 added)."""

    start_date_time: DateTime
    dimensions: list[CdrDimension]  # +


class Session(Object, kw_only=True):
    """§3.1. The owner (the CPO) is the URL's ``{country_code}/{party_id}``."""

    id: str
    start_datetime: DateTime
    end_datetime: DateTime | None = None
    kwh: float
    auth_id: str  # Token.auth_id (2.2.1: cdr_token.contract_id)
    auth_method: str  # AuthMethod
    location: Location  # only the session's EVSE and connector
    meter_id: str | None = None
    currency: str  # ISO 4217
    # PATCH gives the new value of each field sent (§2.2.3): this list is replaced.
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: float | None = None  # excluding VAT
    status: str  # SessionStatus
    last_updated: DateTime
