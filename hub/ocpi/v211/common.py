"""Types shared by several OCPI 2.1.1 modules (2.1.1 types.md and the shared parts of
mod_locations.md §4, which Tariffs, Sessions and CDRs reuse).

2.1.1 has no ``Price`` (costs are plain numbers, excluding VAT) and no owner fields
(``country_code``/``party_id``) in objects: the owner travels in the URL.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import DateTime as DateTime
from hub.ocpi.common import Object as Object

# 2.1.1 mod_locations.md §4.6 EnergySource and §4.15 ImageCategory: the same as 2.2.1's.
from hub.ocpi.locations import IMAGE_CATEGORIES as IMAGE_CATEGORIES
from hub.ocpi.locations import EnergySource as EnergySource

# 2.1.1 mod_locations.md §4.7 EnergySourceCategory and §4.9 EnvironmentalImpactCategory.
ENERGY_SOURCE_CATEGORIES: Final = frozenset(
    {"NUCLEAR", "GENERAL_FOSSIL", "COAL", "GAS", "GENERAL_GREEN", "SOLAR", "WIND", "WATER"}
)
ENVIRONMENTAL_IMPACT_CATEGORIES: Final = frozenset({"NUCLEAR_WASTE", "CARBON_DIOXIDE"})


class DisplayText(Object, kw_only=True):
    """2.1.1 types.md §1.3 DisplayText: ISO 639-1 language and a text of at most 512 characters."""

    language: str
    text: str


class GeoLocation(Object, kw_only=True):
    """2.1.1 mod_locations.md §4.12: decimal degrees as strings, six decimals by the spec's
    regex (2.2.1 allows five to seven; not enforced here)."""

    latitude: str
    longitude: str


class AdditionalGeoLocation(Object, kw_only=True):
    """2.1.1 mod_locations.md §4.1."""

    latitude: str
    longitude: str
    name: DisplayText | None = None


class Image(Object, kw_only=True):
    """2.1.1 mod_locations.md §4.14."""

    url: str
    thumbnail: str | None = None
    category: str  # ImageCategory
    type: str  # e.g. "jpeg", at most 4 characters
    width: int | None = None
    height: int | None = None


class BusinessDetails(Object, kw_only=True):
    """2.1.1 mod_locations.md "4.1 BusinessDetails" (the file numbers two sections 4.1). Also
    the Credentials object's ``business_details``."""

    name: str
    website: str | None = None
    logo: Image | None = None


class EnvironmentalImpact(Object, kw_only=True):
    """2.1.1 mod_locations.md §4.8. The field is ``source``; 2.2.1 renamed it ``category``."""

    source: str  # EnvironmentalImpactCategory
    amount: float  # g/kWh


class EnergyMix(Object, kw_only=True):
    """2.1.1 mod_locations.md §4.5; also used by Tariff (2.1.1 mod_tariffs.md §3.1)."""

    is_green_energy: bool
    energy_sources: list[EnergySource] | None = None
    environ_impact: list[EnvironmentalImpact] | None = None
    supplier_name: str | None = None
    energy_product_name: str | None = None
