"""Tariffs between 2.1.1 (2.1.1 mod_tariffs.md) and 2.2.1 (2.2.1 "Tariffs module").

Prices are excluding VAT in both versions, so the numbers carry over unchanged. The 2.1.1 eMSP
interface has PATCH and 2.2.1 has none (2.2.1 "Changelog"): ``tariff_patch_up`` merges a 2.1.1
PATCH into the stored whole tariff, which the caller then PUTs. See ``LOSSES``.

Inputs are decoded JSON; a field of the wrong type raises ``msgspec.ValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import tariffs as v221
from hub.ocpi.common import PartyKey
from hub.ocpi.v211 import tariffs as v211
from hub.translate.fields import JSON, check_whole, clean, field_types
from hub.translate.locations import energy_mix_down, energy_mix_up
from hub.translate.losses import Loss, Rename, Withheld

_M = "tariffs"
RENAMES: Final = (
    Rename(_M, "energy_mix.environ_impact[].source", "energy_mix.environ_impact[].category"),
)
# TariffRestrictions 2.1.1 cannot express: dropping only the restriction would widen the
# element to sessions it was not meant for, so the whole element goes.
_NARROWING: Final = ("min_current", "max_current", "reservation")
LOSSES: Final = (
    Loss(_M, "up", "country_code", "synthesized", "the owner from the URL (the caller's party)"),
    Loss(_M, "up", "party_id", "synthesized", "the owner from the URL (the caller's party)"),
    Loss(
        _M,
        "up",
        "last_updated",
        "synthesized",
        "PATCH only (merged into the stored tariff "
        "and sent as a PUT, 2.2.1 has no Tariff PATCH): the hub's receive time when the PATCH "
        "has none",
    ),
    Loss(_M, "up", "(unknown fields and values)", "dropped", "not defined by 2.2.1"),
    Loss(_M, "down", "*", "withheld", "no element left that 2.1.1 can express"),
    Loss(_M, "down", "country_code", "dropped", "2.1.1 has no owner fields: the URL carries it"),
    Loss(_M, "down", "party_id", "dropped", "2.1.1 has no owner fields: the URL carries it"),
    Loss(
        _M,
        "down",
        "type",
        "dropped",
        "2.1.1 has no TariffType: the tariff reads as valid for every session",
    ),
    Loss(
        _M,
        "down",
        "min_price",
        "dropped",
        "2.1.1 has none: a 2.1.1 eMSP may compute a different price",
    ),
    Loss(
        _M,
        "down",
        "max_price",
        "dropped",
        "2.1.1 has none: a 2.1.1 eMSP may compute a different price",
    ),
    Loss(_M, "down", "start_date_time", "dropped", "2.1.1 Tariffs have no validity period"),
    Loss(_M, "down", "end_date_time", "dropped", "2.1.1 Tariffs have no validity period"),
    Loss(
        _M,
        "down",
        "elements[].price_components[].vat",
        "dropped",
        "2.1.1 has no VAT rate (prices are excluding VAT in both versions)",
    ),
    Loss(
        _M,
        "down",
        "elements[]",
        "dropped",
        "an element restricted by `min_current`, "
        "`max_current` or `reservation`, which 2.1.1 cannot express (dropping only the "
        "restriction would widen the element)",
    ),
    Loss(_M, "down", "(unknown fields and values)", "dropped", "not defined by 2.1.1"),
)


def tariff_up(tariff: Mapping[str, Any], owner: PartyKey) -> JSON:
    """A whole 2.1.1 Tariff as 2.2.1; ``owner`` is the URL's (country_code, party_id)."""
    body = _tariff_up(clean(v211.Tariff, tariff))
    return check_whole(v221.Tariff, {"country_code": owner[0], "party_id": owner[1], **body})


def tariff_patch_up(
    stored: Mapping[str, Any], fragment: Mapping[str, Any], *, received_at: str
) -> JSON:
    """A 2.1.1 Tariff PATCH merged into ``stored``, the last whole 2.2.1 tariff sent up for
    it: the whole 2.2.1 Tariff to PUT. Fields the PATCH names replace the stored ones (2.1.1
    transport_and_format.md "PATCH"); ``received_at`` stamps it if the PATCH has no
    ``last_updated``."""
    body = _tariff_up(clean(v211.Tariff, fragment))
    body.setdefault("last_updated", received_at)
    return check_whole(v221.Tariff, {**stored, **body})


def tariff_down(tariff: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.2.1 Tariff as 2.1.1."""
    body = clean(v221.Tariff, tariff)
    out: JSON = {}
    for name, value in body.items():
        if name == "elements":
            out[name] = [_element_down(e) for e in value if not _narrowed(e)]
            if not out[name]:
                return Withheld("no tariff element 2.1.1 can express")
        elif name == "energy_mix":
            out[name] = energy_mix_down(value)
        elif name in _V211_FIELDS:
            out[name] = value
    return check_whole(v211.Tariff, out)


_V211_FIELDS: Final = frozenset(field_types(v211.Tariff))


def _tariff_up(body: JSON) -> JSON:
    # Every 2.1.1 Tariff field exists in 2.2.1 with the same meaning; only EnergyMix renames.
    if "energy_mix" in body:
        body["energy_mix"] = energy_mix_up(body["energy_mix"])
    return body


def _narrowed(element: JSON) -> bool:
    restrictions = element.get("restrictions") or {}
    return any(name in restrictions for name in _NARROWING)


def _element_down(element: JSON) -> JSON:
    components = [{k: v for k, v in c.items() if k != "vat"} for c in element["price_components"]]
    return {**element, "price_components": components}
