"""Locations module objects of OCPI 2.3.0 (2.3.0 §8): Location, EVSE, Connector, Parking.

Against 2.2.1: Location gains ``parking_places`` and ``help_phone`` (§8.3.1); EVSE gains
``parking`` and ``accepted_service_providers`` (§8.3.2); Connector gains ``capabilities``
(§8.3.3); Parking (§8.3.4) and EVSEParking (§8.4.13) are new. ConnectorType adds ``MCS`` and
``SAE_J3400`` and ParkingRestriction adds ``EMPLOYEES``, ``TAXIS`` and ``TENANTS``. Capability,
ConnectorCapability, ConnectorType, EnvironmentalImpactCategory, Facility, ImageCategory,
ParkingRestriction, ParkingType and VehicleType are OpenEnums (§17.3): any string passes.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi import locations as v221
from hub.ocpi.common import CountryCode, DateTime, DisplayText, Object, PartyId
from hub.ocpi.locations import (
    AdditionalGeoLocation,
    BusinessDetails,
    EnergyMix,
    GeoLocation,
    Hours,
    Image,
    PublishTokenType,
    StatusSchedule,
)

CONNECTOR_TYPES: Final = v221.CONNECTOR_TYPES | {"MCS", "SAE_J3400"}  # §8.4.6
PARKING_RESTRICTIONS: Final = v221.PARKING_RESTRICTIONS | {"EMPLOYEES", "TAXIS", "TENANTS"}
CONNECTOR_CAPABILITIES: Final = frozenset(  # §8.4.4
    {"ISO_15118_2_PLUG_AND_CHARGE", "ISO_15118_20_PLUG_AND_CHARGE"}
)
EVSE_POSITIONS: Final = frozenset({"LEFT", "RIGHT", "CENTER"})  # §8.4.12, a closed enum
PARKING_DIRECTIONS: Final = frozenset({"PARALLEL", "PERPENDICULAR", "ANGLE"})  # closed enum
VEHICLE_TYPES: Final = frozenset(  # §8.4.28
    {
        "MOTORCYCLE",
        "PERSONAL_VEHICLE",
        "PERSONAL_VEHICLE_WITH_TRAILER",
        "VAN",
        "SEMI_TRACTOR",
        "RIGID",
        "TRUCK_WITH_TRAILER",
        "BUS",
        "DISABLED",
    }
)


class Connector(Object, kw_only=True):
    """§8.3.3."""

    id: str
    standard: str  # ConnectorType (OpenEnum)
    format: str  # ConnectorFormat
    power_type: str  # PowerType
    max_voltage: int
    max_amperage: int
    max_electric_power: int | None = None
    tariff_ids: list[str] | None = None
    terms_and_conditions: str | None = None
    capabilities: list[str] | None = None  # ConnectorCapability (OpenEnum)
    last_updated: DateTime


class EVSEParking(Object, kw_only=True):
    """§8.4.13: a reference from an EVSE to one of its Location's ``parking_places``."""

    parking_id: str
    evse_position: str | None = None  # EVSEPosition


class EVSE(Object, kw_only=True):
    """§8.3.2."""

    uid: str
    evse_id: str | None = None
    status: str  # Status
    status_schedule: list[StatusSchedule] | None = None
    capabilities: list[str] | None = None  # Capability (OpenEnum)
    connectors: list[Connector]  # +
    floor_level: str | None = None
    coordinates: GeoLocation | None = None
    physical_reference: str | None = None
    directions: list[DisplayText] | None = None
    parking_restrictions: list[str] | None = None  # ParkingRestriction (OpenEnum)
    # EVSEParking objects by §8.4.13; the spec's own location_example.json lists bare parking
    # ids instead (tests/examples/NOTICE.md), which is read too rather than refused (§4.1.8).
    parking: list[EVSEParking | str] | None = None
    images: list[Image] | None = None
    accepted_service_providers: list[str] | None = None
    last_updated: DateTime


class Parking(Object, kw_only=True):
    """§8.3.4: a parking place of the Location (lengths in cm, weight in kg, time in min)."""

    id: str
    physical_reference: str | None = None
    vehicle_types: list[str]  # + VehicleType (OpenEnum)
    max_vehicle_weight: float | None = None
    max_vehicle_height: float | None = None
    max_vehicle_length: float | None = None
    max_vehicle_width: float | None = None
    parking_space_length: float | None = None
    parking_space_width: float | None = None
    dangerous_goods_allowed: bool | None = None
    direction: str | None = None  # ParkingDirection
    restricted_to_type: bool
    reservation_required: bool
    time_limit: float | None = None
    roofed: bool | None = None
    images: list[Image] | None = None
    lighting: bool | None = None
    refrigeration_outlet: bool | None = None
    standards: list[str] | None = None
    apds_reference: str | None = None


class Location(Object, kw_only=True):
    """§8.3.1."""

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
    country: str
    coordinates: GeoLocation
    related_locations: list[AdditionalGeoLocation] | None = None
    parking_type: str | None = None  # ParkingType (OpenEnum)
    evses: list[EVSE] | None = None
    parking_places: list[Parking] | None = None
    directions: list[DisplayText] | None = None
    operator: BusinessDetails | None = None
    suboperator: BusinessDetails | None = None
    owner: BusinessDetails | None = None
    facilities: list[str] | None = None  # Facility (OpenEnum)
    time_zone: str
    opening_times: Hours | None = None
    charging_when_closed: bool | None = None
    images: list[Image] | None = None
    energy_mix: EnergyMix | None = None
    help_phone: str | None = None
    last_updated: DateTime
