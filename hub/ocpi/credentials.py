"""Credentials module objects (2.2.1 "Credentials module"; 2.3.0 §7.3.1)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.ocpi.common import CountryCode as CountryCode
from hub.ocpi.common import PartyId as PartyId
from hub.ocpi.versions import Url

# d2: printable ASCII without white space, at most 64 characters.
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+\Z")]

ROLES = frozenset({"CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"})


class Image(msgspec.Struct, frozen=True, omit_defaults=True):
    url: Url
    category: str
    type: str
    thumbnail: str | None = None
    width: int | None = None
    height: int | None = None


class BusinessDetails(msgspec.Struct, frozen=True, omit_defaults=True):
    name: Annotated[str, msgspec.Meta(max_length=100)]
    website: Url | None = None
    logo: Image | None = None


class CredentialsRole(msgspec.Struct, frozen=True):
    role: str
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode


class Credentials(msgspec.Struct, frozen=True):
    token: Token
    url: Url
    roles: Annotated[list[CredentialsRole], msgspec.Meta(min_length=1)]


# 2.3.0 §7.3.1: the hub party of a platform with message routing, its country code and party id
# as one five-character string (``NLHUB``).
HubPartyId = Annotated[str, msgspec.Meta(min_length=5, max_length=5)]


class Credentials230(msgspec.Struct, frozen=True, kw_only=True):
    """2.3.0 §7.3.1: the 2.2.1 object plus ``hub_party_id``. Its Role enum has no HUB (2.3.0
    §17.10): a hub names itself in ``hub_party_id`` and lists the parties reachable through it
    in ``roles``."""

    token: Token
    url: Url
    hub_party_id: HubPartyId | None = None
    roles: Annotated[list[CredentialsRole], msgspec.Meta(min_length=1)]
