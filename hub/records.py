"""The records the hub reasons about, and what follows from them: platforms, their parties, their
status, and whether a platform can be called. Pure: routing, broadcast, delivery, HubClientInfo,
registration and the store all read the same definitions, and importing this loads no Redis and
no HTTP client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from hub.ocpi.common import PartyKey, party_key
from hub.ocpi.credentials import CredentialsRole
from hub.ocpi.hubclientinfo import CONNECTED, OFFLINE, PLANNED, SUSPENDED
from hub.ocpi.lanes import ROLE_VERSIONS
from hub.ocpi.versions import ROLES_211, SPOKEN, V2_1_1, Endpoint, find_endpoint

__all__ = [
    "CONNECTED",
    "OFFLINE",
    "PLANNED",
    "SUSPENDED",
    "Agreement",
    "Party",
    "PartyKey",
    "Platform",
    "TokenEncoding",
    "TokenKind",
    "can_receive",
    "deliverable",
    "endpoint_url",
    "index_granted",
    "label",
    "party_key",
    "party_of",
]

# A platform's status is one of the ConnectionStatus words of 2.2.1 "HubClientInfo module"
# (hub.ocpi.hubclientinfo): PLANNED, CONNECTED, OFFLINE, SUSPENDED.

TokenKind = Literal["A", "C"]  # A: registration only; C: the credentials token in use
TokenEncoding = Literal["auto", "base64", "raw"]


class Party(msgspec.Struct, frozen=True, order=True):
    """One role of a platform: ``{country_code, party_id, role}``, upper-cased (CiString)."""

    country_code: str
    party_id: str
    role: str

    @classmethod
    def of(cls, country_code: str, party_id: str, role: str) -> Party:
        return cls(country_code.upper(), party_id.upper(), role.upper())

    @property
    def key(self) -> PartyKey:
        return (self.country_code, self.party_id)


def index_granted(granted: Iterable[Party]) -> dict[PartyKey, frozenset[Party]]:
    """Parties by (country code, party id): the roles one party was granted."""
    found: dict[PartyKey, set[Party]] = {}
    for party in granted:
        found.setdefault(party.key, set()).add(party)
    return {key: frozenset(parties) for key, parties in found.items()}


class Platform(msgspec.Struct, kw_only=True):
    """One credentials relationship: the roles the operator granted, and what the handshake
    brought (version, endpoints, the roles the platform registered)."""

    id: str
    name: str
    status: str
    roles: list[Party]
    created_at: str
    updated_at: str
    # filled in by the credentials handshake
    version: str | None = None
    platform_versions_url: str | None = None
    endpoints: list[Endpoint] = msgspec.field(default_factory=list)
    registered_roles: list[CredentialsRole] = msgspec.field(default_factory=list)
    registered_by: Literal["platform", "hub"] | None = None
    # how the hub encodes the token it sends: a setting, and what the handshake detected
    token_encoding: TokenEncoding = "auto"
    detected_base64: bool = True
    last_seen: str | None = None
    status_before_suspend: str | None = None
    deleted: bool = False
    status_since: str | None = None  # when the status last changed (HubClientInfo last_updated)
    # The operator's rate limits for this platform: module (or "*") -> a rate like "100/min"
    # (README: "Rate limits"); None: the hub's --rate-limit.
    rate_limits: dict[str, str] | None = None
    # The operator's pin (README: "OCPI 2.1.1 platforms"): the version a handshake the hub
    # starts must use; None: the highest both speak.
    version_pin: str | None = None
    # The operator's default time zone for a 2.1.1 CPO's Locations that give none (2.1.1 makes
    # `time_zone` optional, 2.2.1 requires it); None: such a Location does not reach 2.2.1.
    time_zone: str | None = None

    @property
    def registered(self) -> bool:
        return self.version is not None

    @property
    def sends_base64(self) -> bool:
        if self.token_encoding == "auto":
            return self.detected_base64
        return self.token_encoding == "base64"


class Agreement(msgspec.Struct, frozen=True, kw_only=True):
    """One roaming agreement (README: "Roaming agreements"): a CPO party and a party of the
    other side, for ``modules`` (None: every functional module). ``extensions``: the two may
    pass each other the fields OCPI 2.3.0 does not define (2.3.0 §4.1.8 lets a platform send
    them; README: "OCPI 2.3.0 platforms"); agreements stored before it read as False."""

    id: str
    cpo: PartyKey
    partner: PartyKey
    modules: tuple[str, ...] | None = None
    created_at: str = ""
    extensions: bool = False

    def covers(self, module: str) -> bool:
        return self.modules is None or module in self.modules


def label(party: PartyKey | Party) -> str:
    """A party as messages name it: ``NL/CPO``."""
    if isinstance(party, Party):
        return f"{party.country_code}/{party.party_id}"
    return f"{party[0]}/{party[1]}"


def endpoint_url(platform: Platform, module: str, interface: str | None) -> str | None:
    """Where the hub calls ``platform`` for ``module`` on ``interface`` (SENDER or RECEIVER;
    None for credentials, where the role means nothing), else None. The rule is
    ``hub.ocpi.versions.find_endpoint``'s."""
    return find_endpoint(platform.endpoints, module, interface)


def party_211(platform: Platform) -> Party | None:
    """The one party a platform is in OCPI 2.1.1, or None when it cannot use 2.1.1.

    2.1.1 carries no role (2.1.1 credentials.md §2.1: one ``party_id`` and ``country_code``),
    and its version details hold one URL per module, each a "CPO interface" or an "eMSP
    interface": a 2.1.1 platform is one CPO or one eMSP, so only a platform granted exactly one
    role, CPO or EMSP, can use it (README: "OCPI 2.1.1 platforms"; a company that is both gets
    two platforms)."""
    if len(platform.roles) != 1 or platform.roles[0].role not in ROLES_211:
        return None
    return platform.roles[0]


def versions_for(platform: Platform) -> list[str]:
    """The versions the hub offers ``platform``, highest first (``SPOKEN``): not those that
    lack one of its roles (``ROLE_VERSIONS``: a PTP only in 2.3.0, 2.3.0 §16), so that it
    registers in none of them (a handshake in another version ends in 3002, no common
    version)."""
    usable_211 = party_211(platform) is not None
    found = [v for v in SPOKEN if v != V2_1_1 or usable_211]
    for party in platform.roles:
        only = ROLE_VERSIONS.get(party.role)
        if only is not None:
            found = [v for v in found if v in only]
    return found


def deliverable(platform: Platform) -> bool:
    """The platform's queue is delivered: it is registered, not removed, and CONNECTED or
    OFFLINE (an OFFLINE one is probed). While PLANNED or SUSPENDED its queue waits."""
    return platform.registered and not platform.deleted and platform.status in (CONNECTED, OFFLINE)


def can_receive(platform: Platform, module: str, interface: str) -> bool:
    """The hub may queue ``module`` calls on ``interface`` for this platform (a broadcast, a
    HubClientInfo push): it is deliverable and has that endpoint. A call forwarded at once
    needs more: the platform must be CONNECTED (``hub.routing.receiver``)."""
    return deliverable(platform) and endpoint_url(platform, module, interface) is not None


def party_of(text: str) -> PartyKey:
    """``NL:CPA`` (or ``NL/CPA``) as a party; ValueError otherwise."""
    for separator in (":", "/"):
        country_code, sep, party_id = text.strip().partition(separator)
        if sep:
            break
    if not sep or len(country_code) != 2 or len(party_id) != 3:
        raise ValueError(f"{text!r} is not a party like NL:CPA")
    if not (country_code.isascii() and country_code.isalnum()):
        raise ValueError(f"{text!r} is not a party like NL:CPA")
    if not (party_id.isascii() and party_id.isalnum()):
        raise ValueError(f"{text!r} is not a party like NL:CPA")
    return (country_code.upper(), party_id.upper())
