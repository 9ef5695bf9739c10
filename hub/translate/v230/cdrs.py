"""CDRs between 2.3.0 (2.3.0 §10) and 2.2.1 (2.2.1 "CDRs module").

Every cost is a Price, whose shape changed (2.3.0 §17.8); the CDR's tariffs translate as the
Tariffs module says (``hub.translate.v230.tariffs``), and one that is withheld there is left
out of the CDR. The CdrToken type maps as for Sessions. A CDR whose connector standard 2.2.1
cannot name (MCS, SAE_J3400) is withheld: ``connector_standard`` is required and 2.2.1's
ConnectorType is closed, and any other value would state a connector that was not used.
See ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import cdrs as v221
from hub.ocpi import locations as locations_221
from hub.ocpi.v230 import cdrs as v230
from hub.translate.fields import JSON, check_whole, clean
from hub.translate.losses import Direction, Kind, Loss, Rename230, Withheld
from hub.translate.v230.common import price_down, price_up
from hub.translate.v230.sessions import cdr_token_down
from hub.translate.v230.tariffs import tariff_down, tariff_up

_M = "cdrs"
# Every Price of a CDR (2.3.0 §10.3.1).
COSTS: Final = (
    "total_cost",
    "total_fixed_cost",
    "total_energy_cost",
    "total_time_cost",
    "total_parking_cost",
    "total_reservation_cost",
)


def _loss(direction: Direction, field: str, kind: Kind, why: str) -> Loss:
    return Loss(_M, direction, field, kind, why, "2.3.0")


RENAMES: Final = tuple(Rename230(_M, f"{c}.excl_vat", f"{c}.before_taxes") for c in COSTS)
_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    *(
        _loss("up", f"{c}.incl_vat", "dropped", "carried as one TaxAmount in `taxes`")
        for c in COSTS
    ),
    *(
        _loss(
            "up",
            f"{c}.taxes",
            "synthesized",
            '`[{name: "VAT", amount: incl_vat - excl_vat}]` when `incl_vat` is given',
        )
        for c in COSTS
    ),
    _loss("up", "tariffs[]", "changed", "each as the Tariffs translation says"),
    _loss("up", _UNKNOWN, "dropped", "not defined by 2.2.1: only spec fields are sent"),
    _loss(
        "down",
        "*",
        "withheld",
        "a `cdr_location.connector_standard` 2.2.1 does not list (MCS, SAE_J3400)",
    ),
    *(
        _loss(
            "down",
            f"{c}.taxes",
            "dropped",
            "2.2.1 has no tax breakdown: names, percentages and account numbers are lost",
        )
        for c in COSTS
    ),
    *(
        _loss(
            "down",
            f"{c}.incl_vat",
            "synthesized",
            "`before_taxes` + the sum of `taxes[].amount`, when there are taxes",
        )
        for c in COSTS
    ),
    _loss("down", "cdr_token.type", "changed", "as for Sessions: EMAID and the like become OTHER"),
    _loss("down", "tariffs[]", "changed", "each as the Tariffs translation says"),
    _loss("down", "tariffs[]", "dropped", "a tariff the Tariffs translation withholds"),
    _loss("down", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
)


def cdr_down(cdr: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.3.0 CDR as 2.2.1."""
    body = clean(v230.CDR, cdr)
    standard = body["cdr_location"]["connector_standard"] if "cdr_location" in body else None
    if standard is not None and standard not in locations_221.CONNECTOR_TYPES:
        return Withheld(f"connector standard {standard!r} is not 2.2.1")
    for name in COSTS:
        if name in body:
            body[name] = price_down(body[name])
    if "cdr_token" in body:
        body["cdr_token"] = cdr_token_down(body["cdr_token"])
    if "tariffs" in body:
        tariffs = (tariff_down(t) for t in body["tariffs"])
        body["tariffs"] = [t for t in tariffs if not isinstance(t, Withheld)]
        if not body["tariffs"]:
            del body["tariffs"]  # ``*``: absent says the same as empty
    return check_whole(v221.CDR, body)


def cdr_up(cdr: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 CDR as 2.3.0."""
    body = clean(v221.CDR, cdr)
    for name in COSTS:
        if name in body:
            body[name] = price_up(body[name])
    if "tariffs" in body:
        body["tariffs"] = [tariff_up(t) for t in body["tariffs"]]
    return check_whole(v230.CDR, body)
