"""Credentials module objects of OCPI 2.3.0 (2.3.0 §7.3.1).

Against 2.2.1: ``hub_party_id`` (a hub's country code and party id as one CiString(5)), and a
hub lists in ``roles`` the parties a platform can reach through it; Role has no ``HUB``
(§17.10). CredentialsRole and BusinessDetails are the 2.2.1 ones.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from hub.ocpi.credentials import CredentialsRole
from hub.ocpi.credentials import Token as Token
from hub.ocpi.v230.common import HubPartyId
from hub.ocpi.versions import Url


class Credentials(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    token: Token
    url: Url
    hub_party_id: HubPartyId | None = None
    roles: Annotated[list[CredentialsRole], msgspec.Meta(min_length=1)]
