"""Locations module objects (2.2.1 "Locations module"): Location, EVSE, Connector.

See ``hub.ocpi.common`` for the rules every object here follows. BusinessDetails and Image are
shared with the Credentials module and re-exported here, where the spec defines them.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, DisplayText, Object, PartyId
from hub.ocpi.credentials import BusinessDetails as BusinessDetails
from hub.ocpi.credentials import Image as Image

# Status: the EVSE status. DELETE does not exist: an EVSE is removed by setting REMOVED.
STATUSES: Final = frozenset(
    {
        "AVAILABLE",
        "BLOCKED",
        "CHARGING",
        "INOPERATIVE",
        "OUTOFORDER",
        "PLANNED",
        "REMOVED",
        "RESERVED",
        "UNKNOWN",
    }
)
CAPABILITIES: Final = frozenset(
    {
        "CHARGING_PROFILE_CAPABLE",
        "CHARGING_PREFERENCES_CAPABLE",
        "CHIP_CARD_SUPPORT",
        "CONTACTLESS_CARD_SUPPORT",
        "CREDIT_CARD_PAYABLE",
        "DEBIT_CARD_PAYABLE",
        "PED_TERMINAL",
        "REMOTE_START_STOP_CAPABLE",
        "RESERVABLE",
        "RFID_READER",
        "START_SESSION_CONNECTOR_REQUIRED",
        "TOKEN_GROUP_CAPABLE",
        "UNLOCK_CAPABLE",
    }
)
CONNECTOR_FORMATS: Final = frozenset({"SOCKET", "CABLE"})
# ConnectorType; note the mixed case of the IEC 60309 values. 2.3.0 adds MCS and SAE_J3400.
CONNECTOR_TYPES: Final = frozenset(
    {
        "CHADEMO",
        "CHAOJI",
        *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKLMNO"),
        "GBT_AC",
        "GBT_DC",
        "IEC_60309_2_single_16",
        "IEC_60309_2_three_16",
        "IEC_60309_2_three_32",
        "IEC_60309_2_three_64",
        "IEC_62196_T1",
        "IEC_62196_T1_COMBO",
        "IEC_62196_T2",
        "IEC_62196_T2_COMBO",
        "IEC_62196_T3A",
        "IEC_62196_T3C",
        "NEMA_5_20",
        "NEMA_6_30",
        "NEMA_6_50",
        "NEMA_10_30",
        "NEMA_10_50",
        "NEMA_14_30",
        "NEMA_14_50",
        "PANTOGRAPH_BOTTOM_UP",
        "PANTOGRAPH_TOP_DOWN",
        "TESLA_R",
        "TESLA_S",
    }
)
POWER_TYPES: Final = frozenset({"AC_1_PHASE", "AC_2_PHASE", "AC_2_PHASE_SPLIT", "AC_3_PHASE", "DC"})
PARKING_TYPES: Final = frozenset(
    {
        "ALONG_MOTORWAY",
        "PARKING_GARAGE",
        "PARKING_LOT",
        "ON_DRIVEWAY",
        "ON_STREET",
        "UNDERGROUND_GARAGE",
    }
)
PARKING_RESTRICTIONS: Final = frozenset(
    {"EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"}
)
FACILITIES: Final = frozenset(
    {
        "HOTEL",
        "RESTAURANT",
        "CAFE",
        "MALL",
        "SUPERMARKET",
        "SPORT",
        "RECREATION_AREA",
        "NATURE",
        "MUSEUM",
        "BIKE_SHARING",
        "BUS_STOP",
        "TAXI_STAND",
        "TRAM_STOP",
        "METRO_STATION",
        "TRAIN_STATION",
        "AIRPORT",
        "PARKING_LOT",
        "CARPOOL_PARKING",
        "FUEL_STATION",
        "WIFI",
    }
)
IMAGE_CATEGORIES: Final = frozenset(
    {"CHARGER", "ENTRANCE", "LOCATION", "NETWORK", "OPERATOR", "OTHER", "OWNER"}
)
ENERGY_SOURCE_CATEGORIES: Final = frozenset(
    {"NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"}
)
ENVIRONMENTAL_IMPACT_CATEGORIES: Final = frozenset({"NUCLEAR_WASTE", "CARBON_DIOXIDE"})


class GeoLocation(Object, kw_only=True):
    # Strings in decimal degrees, e.g. "50.770774" (the spec gives a pattern; not enforced).
    latitude: str
    longitude: str


class AdditionalGeoLocation(Object, kw_only=True):
    latitude: str
    longitude: str
    name: DisplayText | None = None


class StatusSchedule(Object, kw_only=True):
    period_begin: DateTime
    period_end: DateTime | None = None
    status: str  # Status


class RegularHours(Object, kw_only=True):
    weekday: int  # 1 (Monday) to 7 (Sunday)
    period_begin: str  # "HH:MM", local time
    period_end: str


class ExceptionalPeriod(Object, kw_only=True):
    period_begin: DateTime
    period_end: DateTime


class Hours(Object, kw_only=True):
    twentyfourseven: bool
    regular_hours: list[RegularHours] | None = None
    exceptional_openings: list[ExceptionalPeriod] | None = None
    exceptional_closings: list[ExceptionalPeriod] | None = None


class EnergySource(Object, kw_only=True):
    source: str  # EnergySourceCategory
    percentage: float


class EnvironmentalImpact(Object, kw_only=True):
    category: str  # EnvironmentalImpactCategory
    amount: float  # g/kWh


class EnergyMix(Object, kw_only=True):
    """Also used by Tariff."""

    is_green_energy: bool
    energy_sources: list[EnergySource] | None = None
    environ_impact: list[EnvironmentalImpact] | None = None
    supplier_name: str | None = None
    energy_product_name: str | None = None


class PublishTokenType(Object, kw_only=True):
    uid: str | None = None
    type: str | None = None  # TokenType
    visual_number: str | None = None
    issuer: str | None = None
    group_id: str | None = None


class Connector(Object, kw_only=True):
    id: str  # unique only within its EVSE
    standard: str  # ConnectorType
    format: str  # ConnectorFormat
    power_type: str  # PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[str] | None = None
    terms_and_conditions: str | None = None
    last_updated: DateTime


class EVSE(Object, kw_only=True):
    uid: str  # the technical id used in URLs
    evse_id: str | None = None  # eMI3, e.g. "BE*BEC*E041503003"
    status: str  # Status
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[str] | None = None  # Capability
    connectors: list[Connector]  # +
    floor_level: str | None = None
    coordinates: GeoLocation | None = None
    physical_reference: str | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[str] | None = None  # ParkingRestriction
    images: list[Image] | None = None
    last_updated: DateTime


class Location(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    id: str
    publish: bool
    publish_allowed_to: list[PublishTokenType] | None = None
    name: str | None = None
    address: str
    city: str
    postal_code: str | None = None
    state: str | None = None
    country: str  # ISO 3166-1 alpha-3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    parking_type: str | None = None  # ParkingType
    evses: list[EVSE] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[str] | None = None  # Facility
    time_zone: str  # IANA tzdata
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None  # absent means true
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime
