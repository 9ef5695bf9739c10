"""Tokens between 2.1.1 and 2.2.1: Token, its PATCH, and real-time authorization.

2.1.1 mod_tokens.md §3 and §4 against 2.2.1 "Tokens module". Functions map decoded JSON objects
(see ``hub.translate``); fields the target version does not define are not copied (2.2.1 and
2.1.1 enums are closed, so nothing unknown is forwarded).
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import DisplayText
from hub.translate.fields import JSON as JsonObject
from hub.translate.fields import clean
from hub.translate.losses import Loss, Rename, Withheld

# Fields both versions define with the same name and meaning (2.1.1 mod_tokens.md §3.2).
_SHARED: Final = (
    "uid",
    "visual_number",
    "issuer",
    "valid",
    "whitelist",
    "language",
    "last_updated",
)
# 2.1.1 mod_tokens.md §4.3 TokenType: OTHER and RFID only.
TOKEN_TYPES_211: Final = frozenset({"OTHER", "RFID"})
# 2.2.1 "TokenType": the two types 2.1.1 lacks are tokens that are not RFID cards.
_TYPE_DOWN: Final = {"RFID": "RFID", "OTHER": "OTHER", "APP_USER": "OTHER", "AD_HOC_USER": "OTHER"}

# Fields that only change their name (or shape, for the costs) between the versions.
RENAMES: Final[tuple[Rename, ...]] = (Rename("tokens", "auth_id", "contract_id"),)

LOSSES: Final[tuple[Loss, ...]] = (
    Loss(
        "tokens",
        "up",
        "country_code",
        "synthesized",
        "the eMSP that owns the token, a parameter (2.1.1 carries it in the URL only)",
    ),
    Loss("tokens", "up", "party_id", "synthesized", "as country_code"),
    Loss("tokens", "down", "country_code", "dropped", "2.1.1 carries the owner in the URL"),
    Loss("tokens", "down", "party_id", "dropped", "as country_code"),
    Loss(
        "tokens",
        "down",
        "type",
        "changed",
        "APP_USER and AD_HOC_USER become OTHER (2.1.1 has "
        "RFID and OTHER only); a uid may then collide with another OTHER token",
    ),
    Loss("tokens", "down", "group_id", "dropped", "2.1.1 has no token groups"),
    Loss("tokens", "down", "default_profile_type", "dropped", "2.1.1 has no smart charging"),
    Loss("tokens", "down", "energy_contract", "dropped", "2.1.1 has no energy contract"),
    Loss(
        "tokens",
        "up",
        "authorization.token",
        "synthesized",
        "required by 2.2.1: the hub's "
        "copy of the token, a parameter; without it the answer is withheld",
    ),
    Loss("tokens", "down", "authorization.token", "dropped", "2.1.1 AuthorizationInfo has none"),
    Loss(
        "tokens",
        "down",
        "authorization.authorization_reference",
        "dropped",
        "2.1.1 has none; the hub keeps it for the session and CDR",
    ),
    Loss("tokens", "up", "location_references.connector_ids", "dropped", "2.2.1 removed them"),
    Loss("tokens", "up", "authorization.location.connector_ids", "dropped", "as above"),
)


def _pick(source: JsonObject, fields: tuple[str, ...]) -> JsonObject:
    return {name: source[name] for name in fields if name in source}


def token_up(token: JsonObject, *, country_code: str, party_id: str) -> JsonObject:
    """A 2.1.1 Token (2.1.1 mod_tokens.md §3.2) as a 2.2.1 Token. 2.1.1 tokens carry no owner:
    it is the eMSP whose URL (or connection) the token came from."""
    up = {"country_code": country_code, "party_id": party_id, **_pick(token, _SHARED)}
    up.update(_pick(token, ("type",)))
    if "auth_id" in token:
        up["contract_id"] = token["auth_id"]
    return up


def token_down(token: JsonObject) -> JsonObject | Withheld:
    """A 2.2.1 Token as a 2.1.1 Token. A type 2.1.1 cannot name is withheld, never guessed."""
    down = _pick(token, _SHARED)
    if "type" in token:
        kind = _TYPE_DOWN.get(token["type"])
        if kind is None:
            return Withheld(f"token type {token['type']!r} has no 2.1.1 equivalent")
        down["type"] = kind
    if "contract_id" in token:
        down["auth_id"] = token["contract_id"]
    return down


def token_patch_up(patch: JsonObject, *, received: str) -> JsonObject:
    """A 2.1.1 Token PATCH as a 2.2.1 one. 2.2.1 requires ``last_updated`` in a Tokens PATCH
    (2.2.1 "Tokens module", PATCH); a 2.1.1 PATCH may omit it, so the receive time fills it."""
    up = _pick(patch, (*_SHARED, "type"))
    if "auth_id" in patch:
        up["contract_id"] = patch["auth_id"]
    up.setdefault("last_updated", received)
    return up


def token_patch_down(patch: JsonObject) -> JsonObject | Withheld:
    """A 2.2.1 Token PATCH as a 2.1.1 one: the same field maps as ``token_down``."""
    return token_down(patch)


def location_references_up(references: JsonObject) -> JsonObject:
    """2.1.1 LocationReferences (mod_tokens.md §4.2) as 2.2.1: ``connector_ids`` is gone."""
    return _pick(references, ("location_id", "evse_uids"))


def location_references_down(references: JsonObject) -> JsonObject:
    return _pick(references, ("location_id", "evse_uids"))


def authorization_info_up(info: JsonObject, *, token: JsonObject | None) -> JsonObject | Withheld:
    """A 2.1.1 eMSP's AuthorizationInfo as 2.2.1, where ``token`` is required: ``token`` is the
    hub's 2.2.1 copy of the token that was authorized. Without it there is no valid answer."""
    if token is None:
        return Withheld("no copy of the authorized token for the 2.2.1 AuthorizationInfo")
    up: JsonObject = {"allowed": info.get("allowed"), "token": token}
    if "location" in info:
        up["location"] = location_references_up(info["location"])
    if info.get("info") is not None:
        up["info"] = clean(DisplayText, info["info"])
    return up


def authorization_info_down(info: JsonObject) -> JsonObject:
    """A 2.2.1 AuthorizationInfo as 2.1.1 (mod_tokens.md §3.1): ``allowed``, ``location``,
    ``info``. The caller keeps ``authorization_reference`` if it needs it later."""
    down = _pick(info, ("allowed",))
    if info.get("info") is not None:
        down["info"] = clean(DisplayText, info["info"])
    if "location" in info:
        down["location"] = location_references_down(info["location"])
    return down
