"""Locations module objects of OCPI 2.1.1 (2.1.1 mod_locations.md §3): Location, EVSE,
Connector, and the types only they use.

Differences from 2.2.1 that shape these Structs: no owner fields and no ``publish``; a
LocationType ``type`` (required) instead of ``parking_type``; Connector ``voltage``/``amperage``
and a single ``tariff_id``; ``time_zone`` and ``postal_code`` swap optionality; Hours is a choice
of ``regular_hours`` or ``twentyfourseven``.
"""

from __future__ import annotations

from typing import Final

# The same in both versions (2.1.1 mod_locations.md §4.20 and 2.2.1).
from hub.ocpi.locations import STATUSES as STATUSES
from hub.ocpi.v211.common import (
    AdditionalGeoLocation,
    BusinessDetails,
    DateTime,
    DisplayText,
    EnergyMix,
    GeoLocation,
    Image,
    Object,
)

# §4.16 LocationType.
LOCATION_TYPES: Final = frozenset(
    {"ON_STREET", "PARKING_GARAGE", "UNDERGROUND_GARAGE", "PARKING_LOT", "OTHER", "UNKNOWN"}
)
# §4.20 Status: the same nine values as 2.2.1 (STATUSES, imported above).
# §4.2 Capability: 6 values (2.2.1 has 13).
CAPABILITIES: Final = frozenset(
    {
        "CHARGING_PROFILE_CAPABLE",
        "CREDIT_CARD_PAYABLE",
        "REMOTE_START_STOP_CAPABLE",
        "RESERVABLE",
        "RFID_READER",
        "UNLOCK_CAPABLE",
    }
)
CONNECTOR_FORMATS: Final = frozenset({"SOCKET", "CABLE"})  # §4.3
# §4.4 ConnectorType: 25 values; note the mixed case of the IEC 60309 values.
CONNECTOR_TYPES: Final = frozenset(
    {
        "CHADEMO",
        *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKL"),
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
        "TESLA_R",
        "TESLA_S",
    }
)
POWER_TYPES: Final = frozenset({"AC_1_PHASE", "AC_3_PHASE", "DC"})  # §4.18
PARKING_RESTRICTIONS: Final = frozenset(  # §4.17
    {"EV_ONLY", "PLUGGED", "DISABLED", "CUSTOMERS", "MOTORCYCLES"}
)
# §4.11 Facility: 16 values (2.2.1 adds BIKE_SHARING, METRO_STATION, PARKING_LOT, TRAM_STOP).
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
        "BUS_STOP",
        "TAXI_STAND",
        "TRAIN_STATION",
        "AIRPORT",
        "CARPOOL_PARKING",
        "FUEL_STATION",
        "WIFI",
    }
)


class StatusSchedule(Object, kw_only=True):
    """§4.21."""

    period_begin: DateTime
    period_end: DateTime | None = None
    status: str  # Status


class RegularHours(Object, kw_only=True):
    """§4.19. The d2 regex allows "24:00"; 2.2.1 does not."""

    weekday: int  # 1 (Monday) to 7 (Sunday)
    period_begin: str  # "HH:MM"
    period_end: str


class ExceptionalPeriod(Object, kw_only=True):
    """§4.10."""

    period_begin: DateTime
    period_end: DateTime


class Hours(Object, kw_only=True):
    """§4.13: a choice of ``regular_hours`` or ``twentyfourseven`` (not checked here)."""

    regular_hours: list[RegularHours] | None = None
    twentyfourseven: bool | None = None
    exceptional_openings: list[ExceptionalPeriod] | None = None
    exceptional_closings: list[ExceptionalPeriod] | None = None


class Connector(Object, kw_only=True):
    """§3.3."""

    id: str
    standard: str  # ConnectorType
    format: str  # ConnectorFormat
    power_type: str  # PowerType
    voltage: int
    amperage: int
    tariff_id: str | None = None
    terms_and_conditions: str | None = None
    last_updated: DateTime


class EVSE(Object, kw_only=True):
    """§3.2."""

    uid: str
    evse_id: str | None = None
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
    """§3.1. The owner is not in the object: it is the URL's ``{country_code}/{party_id}``."""

    id: str
    type: str  # LocationType
    name: str | None = None
    address: str
    city: str
    postal_code: str
    country: str  # ISO 3166-1 alpha-3
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    evses: list[EVSE] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[str] | None = None  # Facility
    time_zone: str | None = None  # IANA tzdata
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None  # absent means true
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime
