"""Pure routing decisions: who sent this call, may it, and who receives it.

No I/O here: the functions take a ``RoutingTable`` (a snapshot of platforms and parties) and
what the web layer read from the request, and return parties and targets or raise the error
with its OCPI status (OCPI 2.2.1, "Transport and format", "Message Routing").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from hub.errors import (
    ForbiddenError,
    InvalidParametersError,
    NotFoundError,
    ReceiverUnreachableError,
    UnknownReceiverError,
)
from hub.ocpi.common import COUNTRY_CODE_PATTERN, PARTY_ID_PATTERN
from hub.ocpi.lanes import Lane
from hub.ocpi.versions import RECEIVER, SENDER, Endpoint, find_endpoint
from hub.policy import Policy
from hub.rates import Rate
from hub.records import CONNECTED, Party, PartyKey, Platform, index_granted, label, party_key

_COUNTRY_CODE = re.compile(COUNTRY_CODE_PATTERN)
_PARTY_ID = re.compile(PARTY_ID_PATTERN)


@dataclass(frozen=True)
class PlatformEntry:
    """What routing needs to know of one platform: its record, and what follows from it computed
    once (its parties, its endpoints), so that routing a call is a few dictionary lookups."""

    record: Platform
    parties: frozenset[Party]  # the roles it registered (a subset of those granted)
    endpoints: Mapping[tuple[str, str], str]  # (module, interface role) -> URL
    limits: Mapping[str, Rate]  # the operator's rate limits for it: module or "*" -> rate

    @classmethod
    def of(cls, platform: Platform) -> PlatformEntry:
        return cls(
            record=platform,
            parties=frozenset(
                Party.of(r.country_code, r.party_id, r.role) for r in platform.registered_roles
            ),
            endpoints=_endpoints(platform.endpoints),
            limits=_limits(platform.rate_limits),
        )

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def base64(self) -> bool:
        return self.record.sends_base64


def _limits(written: Mapping[str, str] | None) -> dict[str, Rate]:
    """The record's limits, read once; one that cannot be read (written by something else) is
    no limit rather than a broken platform."""
    found = {}
    for module, text in (written or {}).items():
        try:
            found[module] = Rate.parse(text)
        except ValueError:
            continue
    return found


def _endpoints(endpoints: list[Endpoint]) -> dict[tuple[str, str], str]:
    """Every (module, interface) the platform can be called on, by ``find_endpoint``'s rule,
    computed once so that routing a call is a dictionary lookup."""
    found = {}
    for module in {e.identifier for e in endpoints}:
        for interface in (SENDER, RECEIVER):
            url = find_endpoint(endpoints, module, interface)
            if url is not None:
                found[(module, interface)] = url
    return found


@dataclass(frozen=True)
class RoutingTable:
    platforms: Mapping[str, PlatformEntry]
    # Every granted party -> its platform, whatever the platform's status.
    granted: Mapping[Party, str]
    hub: PartyKey
    # ``granted`` by (country code, party id). Given by a caller that keeps it up to date as
    # platforms change (the platform cache); else indexed here, in proportion to ``granted``.
    granted_at: Mapping[PartyKey, frozenset[Party]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.granted_at is None:
            object.__setattr__(self, "granted_at", index_granted(self.granted))

    def parties_at(self, party: PartyKey) -> frozenset[Party]:
        assert self.granted_at is not None  # set by __post_init__
        return self.granted_at.get(party, frozenset())


@dataclass(frozen=True)
class Target:
    platform: PlatformEntry
    party: Party
    url: str  # the receiver's endpoint for the module and interface


def header_party(headers: Mapping[str, str], country: str, party: str) -> PartyKey | None:
    """The party named by a pair of routing headers (OCPI-from or OCPI-to; 2.2.1 "Request
    headers"), upper-cased; None when neither is there. Half a pair, or ids that are not a
    country code and a party id, are 2001: the hub routes by them."""
    country_code, party_id = headers.get(country), headers.get(party)
    if not country_code and not party_id:
        return None
    if not country_code or not party_id:
        raise InvalidParametersError(f"{country} and {party} go together; one is missing")
    country_code, party_id = country_code.strip(), party_id.strip()
    if not _COUNTRY_CODE.fullmatch(country_code):
        raise InvalidParametersError(f"{country} must be 2 letters or digits")
    if not _PARTY_ID.fullmatch(party_id):
        raise InvalidParametersError(f"{party} must be 3 letters or digits")
    return party_key(country_code, party_id)


def sender(platform: PlatformEntry, claimed: PartyKey | None, lane: Lane) -> Party:
    """The party a call comes from: OCPI-from must be one of the caller's own roles, and one
    that may use this lane. Without OCPI-from a single-role platform is that role (many
    libraries send no routing headers); a platform with several roles must say which. A module
    the caller's version does not have (Payments, 2.3.0 §16) is not there for it: 404, as
    an endpoint missing from its version details."""
    version = platform.record.version
    if lane.versions is not None and version not in lane.versions:
        raise NotFoundError(
            f"{lane.module} is an OCPI {_versions(lane)} module; this platform speaks {version}"
        )
    if claimed is None:
        if len(platform.parties) != 1:
            raise InvalidParametersError(
                "OCPI-from-country-code and OCPI-from-party-id are required: "
                "this platform has several roles"
            )
        (party,) = platform.parties
        candidates = [party]
    else:
        candidates = [p for p in platform.parties if p.key == claimed]
        if not candidates:
            raise ForbiddenError(f"OCPI-from {label(claimed)} is not a party of this platform")
    allowed = sorted((p for p in candidates if p.role in lane.senders), key=lambda p: p.role)
    if not allowed:
        roles = ", ".join(sorted(p.role for p in candidates))
        raise ForbiddenError(
            f"{label(candidates[0])} ({roles}) may not use the {lane.interface} interface "
            f"of {lane.module}"
        )
    return allowed[0]


def check_owner(sender: Party, owner: PartyKey, where: str) -> None:
    """Party ids in the URL and the body must name the sender (README: "Routing"): OCPI has no
    precedence rule between URL, headers and body, so all must agree."""
    if owner != sender.key:
        raise ForbiddenError(
            f"{where} names {label(owner)}, but the call comes from {label(sender)}"
        )


def receiver(table: RoutingTable, wanted: PartyKey, lane: Lane, caller: PlatformEntry) -> Target:
    """The platform and endpoint that receive a call forwarded at once for ``wanted``: 4001
    when there is none (or more than one), 4003 when it is not connected (2.2.1 status codes
    4001, 4003).

    Stricter than ``hub.records.can_receive``, which decides what the hub may queue for a
    platform (a broadcast, a HubClientInfo push): a call forwarded now needs a CONNECTED
    platform. An OFFLINE one gets its queue when it is back; a call forwarded to it would only
    wait for the timeout."""
    fitting = [p for p in table.parties_at(wanted) if p.role in lane.receivers]
    if not fitting:
        if table.parties_at(wanted):
            raise UnknownReceiverError(
                f"{label(wanted)} has no role that receives {lane.module} ({lane.interface})"
            )
        raise UnknownReceiverError(f"unknown receiver {label(wanted)}")
    platform_ids = {table.granted[p] for p in fitting}
    if len(platform_ids) > 1:
        raise UnknownReceiverError(f"{label(wanted)} is ambiguous: several platforms serve it")
    platform = table.platforms[platform_ids.pop()]
    party = sorted(fitting, key=lambda p: p.role)[0]
    if platform.id == caller.id:
        raise UnknownReceiverError(f"{label(wanted)} is on the calling platform itself")
    version = platform.record.version
    if lane.versions is not None and version not in lane.versions:
        # Never translated (2.3.0 §16 has no counterpart in older versions): refused, not sent.
        raise UnknownReceiverError(
            f"receiver {label(wanted)} speaks OCPI {version or 'none yet'}, which has no "
            f"{lane.module} module (OCPI {_versions(lane)} only)"
        )
    if platform.status != CONNECTED:
        raise ReceiverUnreachableError(f"receiver {label(wanted)} is {platform.status}")
    url = platform.endpoints.get((lane.module, lane.interface))
    if url is None:
        raise UnknownReceiverError(
            f"receiver {label(wanted)} has no {lane.module} {lane.interface} endpoint"
        )
    return Target(platform, party, url)


def _versions(lane: Lane) -> str:
    return ", ".join(sorted(lane.versions or ()))


def only(owners: Iterable[PartyKey], what: str) -> PartyKey:
    """Open routing's rule: exactly one known owner, or 4001; never a guess."""
    found = sorted(set(owners))
    if not found:
        raise UnknownReceiverError(f"no OCPI-to headers, and the hub does not know {what}")
    if len(found) > 1:
        names = ", ".join(label(o) for o in found)
        raise UnknownReceiverError(f"no OCPI-to headers, and {what} is ambiguous ({names})")
    return found[0]


def check_agreement(policy: Policy, sender: Party, target: Target, module: str) -> None:
    """Under ``--agreements required`` a call goes only to a partner for its module: 4001
    naming both parties and the module, before anything is sent (README: "Roaming
    agreements")."""
    if not policy.allows(sender, target.party, module):
        raise UnknownReceiverError(
            f"no roaming agreement between {label(sender)} and {label(target.party)} "
            f"covers {module}"
        )
