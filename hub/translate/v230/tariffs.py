"""Tariffs between 2.3.0 (2.3.0 §11) and 2.2.1 (2.2.1 "Tariffs module").

2.2.1 prices exclude VAT. 2.3.0 says in ``tax_included`` whether they include taxes (§11.3.1,
§11.4.2): ``NO`` and ``N/A`` prices are net and carry over; ``YES`` prices are gross and become
net by each component's ``vat`` rate, and a gross price without a rate cannot become net
(the North American case, tariff_20) and is withheld rather than sent as if it were net.
``min_price``/``max_price`` are PriceLimit in 2.3.0 (§11.4.3), Price in 2.2.1: the same two
amounts under other names. Going up every 2.2.1 tariff is ``tax_included: NO``, as the spec's
own migrated examples say. See ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import tariffs as v221
from hub.ocpi.v230 import tariffs as v230
from hub.translate.fields import JSON, check_whole, clean
from hub.translate.losses import Direction, Kind, Loss, Rename230, Withheld
from hub.translate.v230.common import decimal, energy_mix_down, four_decimals

_M = "tariffs"


def _loss(direction: Direction, field: str, kind: Kind, why: str) -> Loss:
    return Loss(_M, direction, field, kind, why, "2.3.0")


RENAMES: Final = (
    Rename230(_M, "min_price.excl_vat", "min_price.before_taxes"),
    Rename230(_M, "min_price.incl_vat", "min_price.after_taxes"),
    Rename230(_M, "max_price.excl_vat", "max_price.before_taxes"),
    Rename230(_M, "max_price.incl_vat", "max_price.after_taxes"),
)
_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    _loss(
        "up",
        "tax_included",
        "synthesized",
        "`NO`: 2.2.1 prices exclude VAT (the spec's migrated examples say NO too)",
    ),
    _loss("up", _UNKNOWN, "dropped", "not defined by 2.2.1: only spec fields are sent"),
    _loss(
        "down",
        "*",
        "withheld",
        "`tax_included` YES with a price component that has no `vat`: a gross price cannot "
        "become net without its rate, and must not reach 2.2.1 as if it were net; likewise a "
        "tariff without `tax_included` (one inside a CDR may lack it)",
    ),
    _loss(
        "down",
        "tax_included",
        "dropped",
        "2.2.1 prices are net: YES prices are converted, NO and N/A ones copied",
    ),
    _loss(
        "down",
        "elements[].price_components[].price",
        "changed",
        "`tax_included` YES: price / (1 + vat / 100), rounded to 4 decimals",
    ),
    _loss("down", "preauthorize_amount", "dropped", "2.2.1 has no Payments module"),
    _loss(
        "down",
        "energy_mix.environ_impact[]",
        "dropped",
        "an EnvironmentalImpactCategory 2.2.1 does not list",
    ),
    _loss("down", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
)

_LIMITS: Final = ("min_price", "max_price")


def tariff_down(tariff: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.3.0 Tariff as 2.2.1."""
    body = clean(v230.Tariff, tariff)
    tax = body.pop("tax_included", None)
    body.pop("preauthorize_amount", None)
    if tax == "YES":
        try:
            body["elements"] = [_net_element(e) for e in body.get("elements", [])]
        except _NoRate:
            return Withheld("tax_included YES and a price component without vat")
    elif tax not in ("NO", "N/A"):
        # None: a CDR's tariff without tax_included (hub.ocpi.v230.tariffs.CdrTariff).
        return Withheld(f"tax_included {tax!r}: gross or net is not known")
    for name in _LIMITS:
        if name in body:
            body[name] = _limit_down(body[name])
    if "energy_mix" in body:
        body["energy_mix"] = energy_mix_down(body["energy_mix"])
    return check_whole(v221.Tariff, body)


def tariff_up(tariff: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 Tariff as 2.3.0."""
    body = clean(v221.Tariff, tariff)
    for name in _LIMITS:
        if name in body:
            body[name] = _limit_up(body[name])
    body["tax_included"] = "NO"
    return check_whole(v230.Tariff, body)


class _NoRate(Exception):
    pass


def _net_element(element: JSON) -> JSON:
    return {**element, "price_components": [_net(c) for c in element["price_components"]]}


def _net(component: JSON) -> JSON:
    if component.get("vat") is None:
        raise _NoRate
    gross, rate = decimal(component["price"]), decimal(component["vat"])
    return {**component, "price": four_decimals(gross / (1 + rate / 100))}


def _limit_down(limit: JSON) -> JSON:
    out: JSON = {"excl_vat": limit["before_taxes"]}
    if "after_taxes" in limit:
        out["incl_vat"] = limit["after_taxes"]
    return out


def _limit_up(price: JSON) -> JSON:
    out: JSON = {"before_taxes": price["excl_vat"]}
    if "incl_vat" in price:
        out["after_taxes"] = price["incl_vat"]
    return out
