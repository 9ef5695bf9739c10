"""Tokens module objects (2.2.1 "Tokens module"): Token, AuthorizationInfo, LocationReferences.

See ``hub.ocpi.common`` for the rules every object here follows.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, DisplayText, Object, PartyId

# TokenType: also the values of the ``type`` query parameter (default RFID). 2.3.0 adds EMAID.
TOKEN_TYPES: Final = frozenset({"AD_HOC_USER", "APP_USER", "OTHER", "RFID"})
DEFAULT_TOKEN_TYPE: Final = "RFID"
WHITELIST_TYPES: Final = frozenset({"ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"})
ALLOWED_TYPES: Final = frozenset({"ALLOWED", "BLOCKED", "EXPIRED", "NO_CREDIT", "NOT_ALLOWED"})


class EnergyContract(Object, kw_only=True):
    supplier_name: str
    contract_id: str | None = None


class Token(Object, kw_only=True):
    country_code: CountryCode
    party_id: PartyId  # the eMSP that owns the token
    uid: str  # unique per eMSP together with type
    type: str  # TokenType
    contract_id: str
    visual_number: str | None = None
    issuer: str
    group_id: str | None = None
    valid: bool
    whitelist: str  # WhitelistType
    language: str | None = None
    default_profile_type: str | None = None  # ProfileType
    energy_contract: EnergyContract | None = None
    last_updated: DateTime


class LocationReferences(Object, kw_only=True):
    """The optional body of a real-time authorization request."""

    location_id: str
    evse_uids: list[str] | None = None


class AuthorizationInfo(Object, kw_only=True):
    allowed: str  # AllowedType
    token: Token
    location: LocationReferences | None = None
    authorization_reference: str | None = None
    info: DisplayText | None = None
