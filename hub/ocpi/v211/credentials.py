"""Credentials module object (2.1.1 credentials.md §2.1): one flat party, no role.

A 2.1.1 platform is one party (2.1.1 carries no role anywhere; 2.2.1 §17 changelog: ``roles``
came with 2.2), so its credentials name that party's ``country_code``, ``party_id`` and
``business_details`` beside the token and the versions URL.
"""

from __future__ import annotations

import msgspec

# The field types are those of 2.2.1's object: 2.1.1 credentials.md §2.1 has the same token
# (string(64)), URL, party id (string(3)) and country code (string(2)), and its
# ``business_details`` is the same BusinessDetails (2.1.1 mod_locations.md §4.1), which 2.2.1
# keeps unchanged in each CredentialsRole.
from hub.ocpi.credentials import BusinessDetails, CountryCode, PartyId, Token
from hub.ocpi.versions import Url


class Credentials(msgspec.Struct, frozen=True):
    """2.1.1 credentials.md §2.1. Unknown fields are ignored (the house rule of ``hub.ocpi``)."""

    token: Token
    url: Url
    business_details: BusinessDetails
    party_id: PartyId
    country_code: CountryCode
