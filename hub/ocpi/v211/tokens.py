"""Tokens module objects (2.1.1 mod_tokens.md §3, §4): Token, AuthorizationInfo,
LocationReferences.

2.1.1 tokens carry no owner (the eMSP is the URL's ``{country_code}/{party_id}``), name the
contract ``auth_id`` (2.2.1: ``contract_id``), and know two token types.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.v211.common import DateTime, DisplayText, Object

# §4.3 TokenType: no APP_USER, no AD_HOC_USER (2.2.1 added them).
TOKEN_TYPES: Final = frozenset({"OTHER", "RFID"})
DEFAULT_TOKEN_TYPE: Final = "RFID"
WHITELIST_TYPES: Final = frozenset({"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"})  # §4.4
ALLOWED_TYPES: Final = frozenset(  # §4.1 Allowed
    {"ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"}
)


class Token(Object, kw_only=True):
    """§3.2. A 2.1.1 CPO keys tokens by ``uid`` alone (its URL has no ``type``)."""

    uid: str
    type: str  # TokenType
    auth_id: str
    visual_number: str | None = None
    issuer: str
    valid: bool
    whitelist: str  # WhitelistType
    language: str | None = None
    last_updated: DateTime


class LocationReferences(Object, kw_only=True):
    """§4.2: the optional body of a real-time authorization request."""

    location_id: str
    evse_uids: list[str] | None = None
    connector_ids: list[str] | None = None  # gone in 2.2.1


class AuthorizationInfo(Object, kw_only=True):
    """§3.1: no ``token`` and no ``authorization_reference`` (2.2.1 added both)."""

    allowed: str  # Allowed
    location: LocationReferences | None = None
    info: DisplayText | None = None
