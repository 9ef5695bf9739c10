"""CDRs module objects (2.2.1 "CDRs module"): CDR, CdrLocation, SignedData.

CdrToken, ChargingPeriod and CdrDimension are shared with Session: defined in
``hub.ocpi.sessions`` and re-exported here. See ``hub.ocpi.common`` for the rules every object
here follows.
"""

from __future__ import annotations

from hub.ocpi.common import CountryCode, DateTime, Object, PartyId, Price
from hub.ocpi.locations import GeoLocation
from hub.ocpi.sessions import AUTH_METHODS as AUTH_METHODS
from hub.ocpi.sessions import CDR_DIMENSION_TYPES as CDR_DIMENSION_TYPES
from hub.ocpi.sessions import CdrDimension as CdrDimension
from hub.ocpi.sessions import CdrToken as CdrToken
from hub.ocpi.sessions import ChargingPeriod as ChargingPeriod
from hub.ocpi.tariffs import Tariff


class CdrLocation(Object, kw_only=True):
    # "#NA" and arbitrary connector values are allowed for a reservation-only CDR.
    id: str
    name: str | None = None
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str  # ISO 3166-1 alpha-3
    coordinates: GeoLocation
    evse_uid: str
    evse_id: str
    connector_id: str
    connector_standard: str  # ConnectorType
    connector_format: str  # ConnectorFormat
    connector_power_type: str  # PowerType


class SignedValue(Object, kw_only=True):
    nature: str
    plain_data: str
    signed_data: str


class SignedData(Object, kw_only=True):
    encoding_method: str
    encoding_method_version: int | None = None
    public_key: str | None = None
    signed_values: list[SignedValue]  # +
    url: str | None = None


class CDR(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId  # the CPO
    id: str  # CiString(39): room for credit CDR suffixes
    start_date_time: DateTime
    end_date_time: DateTime
    session_id: str | None = None
    cdr_token: CdrToken
    auth_method: str  # AuthMethod
    authorization_reference: str | None = None
    cdr_location: CdrLocation
    meter_id: str | None = None
    currency: str  # ISO 4217
    tariffs: list[Tariff] | None = None
    charging_periods: list[ChargingPeriod]  # +
    signed_data: SignedData | None = None
    total_cost: Price
    total_fixed_cost: Price | None = None
    total_energy: float  # kWh
    total_energy_cost: Price | None = None
    total_time: float  # hours
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
