"""CDRs module objects (2.1.1 mod_cdrs.md §3, §4).

ChargingPeriod and CdrDimension are shared with Session: defined in ``hub.ocpi.v211.sessions``
and re-exported here. 2.1.1 CDRs cannot be updated, removed or credited (mod_cdrs.md §1.1).
"""

from __future__ import annotations

from hub.ocpi.v211.common import DateTime, Object
from hub.ocpi.v211.locations import Location
from hub.ocpi.v211.sessions import AUTH_METHODS as AUTH_METHODS
from hub.ocpi.v211.sessions import CDR_DIMENSION_TYPES as CDR_DIMENSION_TYPES
from hub.ocpi.v211.sessions import CdrDimension as CdrDimension
from hub.ocpi.v211.sessions import ChargingPeriod as ChargingPeriod
from hub.ocpi.v211.tariffs import Tariff


class CDR(Object, kw_only=True):
    """§3.1. The owner (the CPO) is the platform that sent it."""

    id: str  # CiString(36)
    start_date_time: DateTime
    stop_date_time: DateTime  # 2.2.1: end_date_time
    auth_id: str  # Token.auth_id (2.2.1: cdr_token.contract_id)
    auth_method: str  # AuthMethod
    location: Location  # only the CDR's EVSE and connector
    meter_id: str | None = None
    currency: str  # ISO 4217
    tariffs: list[Tariff] | None = None
    charging_periods: list[ChargingPeriod]  # +
    total_cost: float  # excluding VAT
    total_energy: float  # kWh
    total_time: float  # hours
    total_parking_time: float | None = None  # hours
    remark: str | None = None
    last_updated: DateTime
