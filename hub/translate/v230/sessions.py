"""Sessions between 2.3.0 (2.3.0 §9) and 2.2.1 (2.2.1 "Sessions module").

The only change is the shape of ``total_cost`` (2.3.0 §17.8 Price), and the CdrToken's
``type``, an OpenEnum in 2.3.0 that adds EMAID. A session is billing data the eMSP needs, so a
token type 2.2.1 cannot name does not withhold it: the CdrToken says OTHER ("other type of
token", 2.2.1 "TokenType"), and ``uid`` and ``contract_id`` still name the contract. See
``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import sessions as v221
from hub.ocpi.tokens import TOKEN_TYPES
from hub.ocpi.v230 import sessions as v230
from hub.translate.fields import JSON, check_whole, clean
from hub.translate.losses import Direction, Kind, Loss, Rename230
from hub.translate.v230.common import price_down, price_up

_M = "sessions"


def _loss(direction: Direction, field: str, kind: Kind, why: str) -> Loss:
    return Loss(_M, direction, field, kind, why, "2.3.0")


RENAMES: Final = (Rename230(_M, "total_cost.excl_vat", "total_cost.before_taxes"),)
_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    _loss(
        "up",
        "total_cost.incl_vat",
        "dropped",
        "carried as one TaxAmount in `total_cost.taxes`",
    ),
    _loss(
        "up",
        "total_cost.taxes",
        "synthesized",
        '`[{name: "VAT", amount: incl_vat - excl_vat}]` when `incl_vat` is given; no '
        "percentage is invented",
    ),
    _loss("up", _UNKNOWN, "dropped", "not defined by 2.2.1: only spec fields are sent"),
    _loss(
        "down",
        "total_cost.taxes",
        "dropped",
        "2.2.1 has no tax breakdown: names, percentages and account numbers are lost, "
        "several taxes become one `incl_vat`",
    ),
    _loss(
        "down",
        "total_cost.incl_vat",
        "synthesized",
        "`before_taxes` + the sum of `taxes[].amount`, when there are taxes",
    ),
    _loss(
        "down",
        "cdr_token.type",
        "changed",
        "a TokenType 2.2.1 lacks (EMAID, or another OpenEnum value) becomes OTHER",
    ),
    _loss("down", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
)


def cdr_token_down(token: JSON) -> JSON:
    if token.get("type", "RFID") in TOKEN_TYPES:
        return token
    return {**token, "type": "OTHER"}


def session_down(session: Mapping[str, Any]) -> JSON:
    """A whole 2.3.0 Session as 2.2.1."""
    return check_whole(v221.Session, _down(clean(v230.Session, session)))


def session_up(session: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 Session as 2.3.0."""
    return check_whole(v230.Session, _up(clean(v221.Session, session)))


def session_patch_down(fragment: Mapping[str, Any]) -> JSON:
    """A 2.3.0 Session PATCH as 2.2.1 (``charging_periods`` append in both versions)."""
    return _down(clean(v230.Session, fragment))


def session_patch_up(fragment: Mapping[str, Any]) -> JSON:
    """A 2.2.1 Session PATCH as 2.3.0."""
    return _up(clean(v221.Session, fragment))


def _down(body: JSON) -> JSON:
    if "total_cost" in body:
        body["total_cost"] = price_down(body["total_cost"])
    if "cdr_token" in body:
        body["cdr_token"] = cdr_token_down(body["cdr_token"])
    return body


def _up(body: JSON) -> JSON:
    if "total_cost" in body:
        body["total_cost"] = price_up(body["total_cost"])
    return body
