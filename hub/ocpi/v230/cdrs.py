"""CDRs module objects of OCPI 2.3.0 (2.3.0 §10): the 2.2.1 CDR with every cost a 2.3.0
``Price`` and its tariffs 2.3.0 Tariffs (the only changes, §10.3.1)."""

from __future__ import annotations

from hub.ocpi.cdrs import CdrLocation, SignedData
from hub.ocpi.common import CountryCode, DateTime, Object, PartyId
from hub.ocpi.sessions import CdrToken, ChargingPeriod
from hub.ocpi.v230.common import Price
from hub.ocpi.v230.tariffs import CdrTariff


class CDR(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    id: str
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: str | None = None
    cdr_token: CdrToken
    auth_method: str
    authorization_reference: str | None = None
    cdr_location: CdrLocation
    meter_id: str | None = None
    currency: str
    tariffs: list[CdrTariff] | None = None
    charging_periods: list[ChargingPeriod]  # +
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: float
    total_energy_cost: Price | None = None
    total_time: float
    total_time_cost: Price | None = None
    total_parking_time: float | None = None
    total_parking_cost: Price | None = None
    total_reservation_cost: Price | None = None
    remark: str | None = None
    invoice_reference_id: str | None = None
    credit: bool | None = None
    credit_reference_id: str | None = None
    home_charging_compensation: bool | None = None
    last_updated: DateTime
