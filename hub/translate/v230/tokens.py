"""Tokens between 2.3.0 (2.3.0 §12) and 2.2.1 (2.2.1 "Tokens module").

The objects are the same; TokenType is an OpenEnum in 2.3.0 and adds EMAID (§12.4.4). A Token
whose type 2.2.1 cannot name is withheld going down, never sent as OTHER: ``uid`` and ``type``
together identify a token at the CPO, so an EMAID sent as OTHER could collide with, or
overwrite, another OTHER token of the same uid, and it would authorize a contract in the CPO's
whitelist under a type its issuer did not mean. 2.3.0 itself advises eMSPs not to push EMAID
tokens at all, since the CPO authorizes them in real time (§12.4.4). See ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import tokens as v221
from hub.ocpi.v230 import tokens as v230
from hub.translate.fields import JSON, check_whole, clean
from hub.translate.losses import Direction, Kind, Loss, Withheld

_M = "tokens"


def _loss(direction: Direction, field: str, kind: Kind, why: str) -> Loss:
    return Loss(_M, direction, field, kind, why, "2.3.0")


_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    _loss("up", _UNKNOWN, "dropped", "not defined by 2.2.1: only spec fields are sent"),
    _loss(
        "down",
        "*",
        "withheld",
        "a Token (or the AuthorizationInfo carrying it) of a type 2.2.1 does not list: EMAID "
        "or another OpenEnum value (OTHER could collide with another token's uid and type)",
    ),
    _loss("down", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
)


def _type_withheld(body: Mapping[str, Any]) -> Withheld | None:
    kind = body.get("type")
    if kind is not None and kind not in v221.TOKEN_TYPES:
        return Withheld(f"token type {kind!r} is not 2.2.1")
    return None


def token_down(token: Mapping[str, Any]) -> JSON | Withheld:
    """A whole 2.3.0 Token as 2.2.1."""
    body = clean(v230.Token, token)
    return _type_withheld(body) or check_whole(v221.Token, body)


def token_up(token: Mapping[str, Any]) -> JSON:
    """A whole 2.2.1 Token as 2.3.0."""
    return check_whole(v230.Token, clean(v221.Token, token))


def token_patch_down(fragment: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 Token PATCH as 2.2.1."""
    body = clean(v230.Token, fragment)
    return _type_withheld(body) or body


def token_patch_up(fragment: Mapping[str, Any]) -> JSON:
    """A 2.2.1 Token PATCH as 2.3.0."""
    return clean(v221.Token, fragment)


def authorization_info_down(info: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 eMSP's AuthorizationInfo (real-time authorization) as 2.2.1."""
    body = clean(v230.AuthorizationInfo, info)
    withheld = _type_withheld(body.get("token") or {})
    if withheld is not None:
        return withheld
    if body.get("allowed") not in v221.ALLOWED_TYPES:
        return Withheld(f"allowed {body.get('allowed')!r} is not 2.2.1")
    return check_whole(v221.AuthorizationInfo, body)


def authorization_info_up(info: Mapping[str, Any]) -> JSON:
    """A 2.2.1 eMSP's AuthorizationInfo as 2.3.0."""
    return check_whole(v230.AuthorizationInfo, clean(v221.AuthorizationInfo, info))
