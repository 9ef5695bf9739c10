"""Helpers the 2.3.0 <-> 2.2.1 translations share: prices, images, energy mixes, enums.

Money is computed in decimal on the numbers as JSON wrote them, never in binary floating
point: 4.40 - 4.00 must be 0.4, not 0.40000000000000036.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

from hub.ocpi import locations as v221
from hub.translate.fields import JSON

# The one TaxAmount a 2.2.1 price with ``incl_vat`` becomes: the spec's own examples were
# migrated to 2.3.0 this way (e.g. cdr_example.json 4.00/4.40 -> {4.0, [{VAT, 0.4}]}).
VAT: Final = "VAT"
# "Unless mentioned otherwise, numbers use 4 decimals" (2.2.1 and 2.3.0 types, "number").
_FOUR: Final = Decimal("0.0001")


def decimal(number: float | int) -> Decimal:
    # repr gives the shortest text that reads back as the same float: the JSON number sent.
    return Decimal(repr(number))


def number(value: Decimal) -> float:
    return float(value)


def four_decimals(value: Decimal) -> float:
    return float(value.quantize(_FOUR, rounding=ROUND_HALF_UP))


def price_down(price: Mapping[str, Any]) -> JSON:
    """A 2.3.0 Price (2.3.0 §17.8) as 2.2.1: ``excl_vat = before_taxes``; ``incl_vat`` is
    ``before_taxes`` plus every tax amount when there are taxes, else absent (2.2.1 has no
    tax breakdown: names, percentages and account numbers are lost)."""
    out: JSON = {"excl_vat": price["before_taxes"]}
    taxes = price.get("taxes") or []
    if taxes:
        total = decimal(price["before_taxes"]) + sum(
            (decimal(t["amount"]) for t in taxes), Decimal(0)
        )
        out["incl_vat"] = number(total)
    return out


def price_up(price: Mapping[str, Any]) -> JSON:
    """A 2.2.1 Price as 2.3.0: ``before_taxes = excl_vat``, and ``incl_vat`` becomes one
    ``VAT`` TaxAmount of the difference. No rate is invented (``percentage`` stays out)."""
    out: JSON = {"before_taxes": price["excl_vat"]}
    if price.get("incl_vat") is not None:
        amount = decimal(price["incl_vat"]) - decimal(price["excl_vat"])
        out["taxes"] = [{"name": VAT, "amount": number(amount)}]
    return out


def known(values: Iterable[str], allowed: frozenset[str]) -> list[str]:
    """The values of an OpenEnum list that 2.2.1 defines, in order."""
    return [v for v in values if v in allowed]


def image_down(image: JSON) -> JSON:
    """An Image whose ImageCategory (an OpenEnum in 2.3.0) 2.2.1 does not list is kept as
    ``OTHER``, 2.2.1's own catch-all category."""
    if image.get("category") in v221.IMAGE_CATEGORIES:
        return image
    return {**image, "category": "OTHER"}


def business_down(details: JSON) -> JSON:
    if "logo" not in details:
        return details
    return {**details, "logo": image_down(details["logo"])}


def energy_mix_down(mix: JSON) -> JSON:
    """EnvironmentalImpactCategory is an OpenEnum in 2.3.0: an impact 2.2.1 cannot name goes
    (an impact of another category would state something false)."""
    if "environ_impact" not in mix:
        return mix
    impacts = [
        i for i in mix["environ_impact"] if i["category"] in v221.ENVIRONMENTAL_IMPACT_CATEGORIES
    ]
    return {**mix, "environ_impact": impacts}
