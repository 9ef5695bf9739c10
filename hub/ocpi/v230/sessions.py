"""Sessions module objects of OCPI 2.3.0 (2.3.0 §9): the 2.2.1 Session with the 2.3.0
``Price`` as ``total_cost`` (the only change, §9.3.1). ChargingPreferences, CdrToken and
ChargingPeriod are the 2.2.1 ones."""

from __future__ import annotations

from hub.ocpi.common import CountryCode, DateTime, Object, PartyId
from hub.ocpi.sessions import CdrToken, ChargingPeriod
from hub.ocpi.v230.common import Price


class Session(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    id: str
    start_date_time: DateTime
    end_date_time: DateTime | None = None
    kwh: float
    cdr_token: CdrToken  # its ``type`` is a 2.3.0 TokenType (OpenEnum, + EMAID)
    auth_method: str
    authorization_reference: str | None = None
    location_id: str
    evse_uid: str
    connector_id: str
    meter_id: str | None = None
    currency: str
    charging_periods: list[ChargingPeriod] | None = None
    total_cost: Price | None = None
    status: str
    last_updated: DateTime
