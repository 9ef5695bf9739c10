"""Tariffs module objects (2.2.1 "Tariffs module"): Tariff and its parts.

See ``hub.ocpi.common`` for the rules every object here follows.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, DisplayText, Object, PartyId, Price
from hub.ocpi.locations import EnergyMix

TARIFF_TYPES: Final = frozenset(
    {"AD_HOC_PAYMENT", "PROFILE_CHEAP", "PROFILE_FAST", "PROFILE_GREEN", "REGULAR"}
)
TARIFF_DIMENSION_TYPES: Final = frozenset({"ENERGY", "FLAT", "PARKING_TIME", "TIME"})
DAYS_OF_WEEK: Final = frozenset(
    {"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
)
RESERVATION_RESTRICTION_TYPES: Final = frozenset({"RESERVATION", "RESERVATION_EXPIRES"})


class PriceComponent(Object, kw_only=True):
    type: str  # TariffDimensionType
    price: float  # per unit, excluding VAT
    vat: float | None = None  # percentage
    step_size: int


class TariffRestrictions(Object, kw_only=True):
    start_time: str | None = None  # "HH:MM", local time
    end_time: str | None = None
    start_date: str | None = None  # "YYYY-MM-DD", local time
    end_date: str | None = None
    min_kwh: float | None = None
    max_kwh: float | None = None
    min_current: float | None = None
    max_current: float | None = None
    min_power: float | None = None
    max_power: float | None = None
    min_duration: int | None = None  # seconds
    max_duration: int | None = None
    day_of_week: list[str] | None = None  # DayOfWeek
    reservation: str | None = None  # ReservationRestrictionType


class TariffElement(Object, kw_only=True):
    price_components: list[PriceComponent]  # +
    restrictions: TariffRestrictions | None = None


class Tariff(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    id: str
    currency: str  # ISO 4217
    type: str | None = None  # TariffType
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: Price | None = None
    max_price: Price | None = None
    elements: list[TariffElement]  # +
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime
