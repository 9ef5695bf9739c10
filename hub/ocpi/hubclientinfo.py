"""HubClientInfo module objects (2.2.1 "HubClientInfo module"): ClientInfo.

See ``hub.ocpi.common`` for the rules every object here follows.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import CountryCode, DateTime, Object, PartyId

CONNECTED: Final = "CONNECTED"
OFFLINE: Final = "OFFLINE"
PLANNED: Final = "PLANNED"
SUSPENDED: Final = "SUSPENDED"
CONNECTION_STATUSES: Final = frozenset({CONNECTED, OFFLINE, PLANNED, SUSPENDED})


class ClientInfo(Object, kw_only=True):
    """A party behind the hub; the URL's country_code/party_id name this party, not the caller."""

    party_id: PartyId
    country_code: CountryCode
    role: str  # Role
    status: str  # ConnectionStatus
    last_updated: DateTime
