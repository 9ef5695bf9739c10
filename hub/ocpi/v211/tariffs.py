"""Tariffs module objects of OCPI 2.1.1 (2.1.1 mod_tariffs.md §3.1, §4).

Against 2.2.1: no owner fields, no ``type``, ``min_price``/``max_price`` or validity period;
PriceComponent has no ``vat``; TariffRestrictions has no ``min/max_current`` or
``reservation``. Prices are excluding VAT, as in 2.2.1.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.v211.common import DateTime, DisplayText, EnergyMix, Object

TARIFF_DIMENSION_TYPES: Final = frozenset({"ENERGY", "FLAT", "PARKING_TIME", "TIME"})  # §4.4
DAYS_OF_WEEK: Final = frozenset(  # §4.1
    {"MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"}
)


class PriceComponent(Object, kw_only=True):
    """§4.2."""

    type: str  # TariffDimensionType
    price: float  # per unit, excluding VAT
    step_size: int


class TariffRestrictions(Object, kw_only=True):
    """§4.5."""

    start_time: str | None = None  # "HH:MM"
    end_time: str | None = None
    start_date: str | None = None  # "YYYY-MM-DD"
    end_date: str | None = None
    min_kwh: float | None = None
    max_kwh: float | None = None
    min_power: float | None = None
    max_power: float | None = None
    min_duration: int | None = None  # seconds
    max_duration: int | None = None
    day_of_week: list[str] | None = None  # DayOfWeek


class TariffElement(Object, kw_only=True):
    """§4.3."""

    price_components: list[PriceComponent]  # +
    restrictions: TariffRestrictions | None = None


class Tariff(Object, kw_only=True):
    """§3.1. The owner is not in the object: it is the URL's ``{country_code}/{party_id}``."""

    id: str
    currency: str  # ISO 4217
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    elements: list[TariffElement]  # +
    energy_mix: EnergyMix | None = None
    last_updated: DateTime
