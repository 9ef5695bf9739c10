"""Tariffs module objects of OCPI 2.3.0 (2.3.0 §11).

Against 2.2.1: ``tax_included`` is required and says whether every PriceComponent ``price`` is
gross or net (§11.3.1, §11.4.2); ``min_price``/``max_price`` are ``PriceLimit`` (§11.4.3);
``preauthorize_amount`` is new (Payments). The other parts are the 2.2.1 ones.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, DisplayText, Object, PartyId
from hub.ocpi.locations import EnergyMix
from hub.ocpi.tariffs import PriceComponent as PriceComponent
from hub.ocpi.tariffs import TariffElement as TariffElement
from hub.ocpi.tariffs import TariffRestrictions as TariffRestrictions

# §11.4.9 TaxIncluded, a closed enum.
TAX_INCLUDED: Final = frozenset({"YES", "NO", "N/A"})


class PriceLimit(Object, kw_only=True):
    """§11.4.3."""

    before_taxes: float
    after_taxes: float | None = None


class _TariffFields(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId
    id: str
    currency: str
    type: str | None = None  # TariffType
    tariff_alt_text: list[DisplayText] | None = None
    tariff_alt_url: str | None = None
    min_price: PriceLimit | None = None
    max_price: PriceLimit | None = None
    preauthorize_amount: float | None = None
    elements: list[TariffElement]  # +
    start_date_time: DateTime | None = None
    end_date_time: DateTime | None = None
    energy_mix: EnergyMix | None = None
    last_updated: DateTime


class Tariff(_TariffFields, kw_only=True):
    """§11.3.1."""

    tax_included: str  # TaxIncluded


class CdrTariff(_TariffFields, kw_only=True):
    """A Tariff inside a CDR (§10.3.1 ``tariffs``). The spec's own cdr_example.json embeds one
    without ``tax_included`` (tests/examples/NOTICE.md); refusing the whole CDR, billing data,
    for it would be worse, so here it may be absent. Such a tariff is read, but nothing says
    whether its prices are gross or net: it is never translated (see hub.translate.v230)."""

    tax_included: str | None = None  # TaxIncluded
