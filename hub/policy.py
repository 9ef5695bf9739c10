"""Roaming agreements and rate limits, as decisions over a snapshot. Pure: no I/O.

An agreement joins one CPO party with one party of the other side (eMSP, NSP, NAP, SCSP, OTHER),
for every functional module or a list of them (README: "Roaming agreements"). Every exchange of a
functional module is between a party on the CPO's side and one on the other side (2.2.1, the
"Typical OCPI implementations per role" tables of each module), so "may these two exchange this
module" is one lookup. With agreements ``off`` every party may reach every other.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, Literal

from hub.ocpi.common import PartyKey
from hub.ocpi.credentials import CredentialsRole
from hub.ocpi.lanes import CPO, MSP_SIDE, PTP_SIDE
from hub.ocpi.versions import FUNCTIONAL_MODULES
from hub.rates import Rate
from hub.records import CONNECTED, OFFLINE, Agreement, Party, Platform

AgreementMode = Literal["off", "required"]

# The sides an agreement joins: its ``cpo`` has the CPO role, its ``partner`` one of these; a
# PTP exchanges Payments with CPOs (2.3.0 §16).
PARTNER_ROLES: Final = MSP_SIDE | PTP_SIDE


@dataclass(frozen=True)
class Agreements:
    """Every agreement, indexed for the questions routing asks."""

    all: Mapping[str, Agreement] = field(default_factory=dict)
    # (cpo, partner) -> the modules they exchange (None: all)
    _pairs: dict[tuple[PartyKey, PartyKey], frozenset[str] | None] = field(
        default_factory=dict, repr=False
    )
    # party -> its partners on the other side, whichever side it is on
    _partners: dict[PartyKey, set[PartyKey]] = field(default_factory=dict, repr=False)
    # (cpo, partner) of every agreement that lets the two pass each other extension fields
    _extensions: set[tuple[PartyKey, PartyKey]] = field(default_factory=set, repr=False)

    @classmethod
    def of(cls, agreements: Iterable[Agreement]) -> Agreements:
        found = cls({a.id: a for a in agreements})
        for agreement in found.all.values():
            pair = (agreement.cpo, agreement.partner)
            modules = None if agreement.modules is None else frozenset(agreement.modules)
            known = found._pairs.get(pair, frozenset())
            # Two agreements of one pair (one for tariffs, one for locations) add up.
            found._pairs[pair] = None if known is None or modules is None else known | modules
            found._partners.setdefault(agreement.cpo, set()).add(agreement.partner)
            found._partners.setdefault(agreement.partner, set()).add(agreement.cpo)
            if agreement.extensions:
                found._extensions.add(pair)
        return found

    def between(self, cpo: PartyKey, partner: PartyKey, module: str) -> bool:
        """An agreement of ``cpo`` (the CPO) with ``partner`` covers ``module``."""
        if (cpo, partner) not in self._pairs:
            return False
        modules = self._pairs[(cpo, partner)]
        return modules is None or module in modules

    def related(self, party: PartyKey, other: PartyKey) -> bool:
        """``party`` and ``other`` have an agreement, for whatever modules."""
        return other in self._partners.get(party, ())

    def extensions(self, cpo: PartyKey, partner: PartyKey) -> bool:
        """An agreement of ``cpo`` (the CPO) with ``partner`` lets them pass each other the
        fields OCPI 2.3.0 does not define, whatever modules it covers."""
        return (cpo, partner) in self._extensions

    def partners(self, party: PartyKey, module: str) -> frozenset[PartyKey]:
        """The parties ``party`` exchanges ``module`` with, on either side of agreements."""
        found = set()
        for other in self._partners.get(party, ()):
            if self.between(party, other, module) or self.between(other, party, module):
                found.add(other)
        return frozenset(found)


@dataclass(frozen=True)
class Policy:
    """Who may exchange what: ``mode`` off lets every party reach every other."""

    mode: AgreementMode = "off"
    agreements: Agreements = field(default_factory=Agreements)

    @property
    def required(self) -> bool:
        return self.mode == "required"

    def allows(self, one: Party, other: Party, module: str) -> bool:
        """``one`` and ``other`` (two parties with their roles, in either order) may exchange
        ``module``: agreements are off, or one is a CPO with an agreement with the other that
        covers the module."""
        if not self.required:
            return True
        if one.role == CPO and other.role in PARTNER_ROLES:
            return self.agreements.between(one.key, other.key, module)
        if other.role == CPO and one.role in PARTNER_ROLES:
            return self.agreements.between(other.key, one.key, module)
        return False

    def reaches(self, party: PartyKey, other: PartyKey, *, module: str) -> bool:
        """Like ``allows`` for two parties known only by their keys (the owner of a kept object):
        an agreement between them covering ``module``, in either direction."""
        if not self.required:
            return True
        return self.agreements.between(party, other, module) or self.agreements.between(
            other, party, module
        )

    def extensions(self, a: PartyKey, b: PartyKey) -> bool:
        """``a`` and ``b`` may pass each other the fields OCPI 2.3.0 does not define (unknown
        and extension fields; 2.3.0 §4.1.8 lets a platform send them, and a receiver must not
        reject them): an agreement between them, in either direction (CPO ``a`` and partner
        ``b``, or the reverse), says ``extensions``. Otherwise the hub takes those fields out of
        whatever one platform's call passes on to another (README: "OCPI 2.3.0 platforms"),
        since one partner's extension may carry what another should not see.

        Never with agreements ``off``: there is no agreement then, so nothing allows it, and
        the operator who wants extensions passed runs with ``--agreements required``. Unlike
        ``allows``, the modules an agreement covers do not matter: whether the two may
        exchange a module at all is ``allows``'s question, asked before this one."""
        if not self.required:
            return False
        return self.agreements.extensions(a, b) or self.agreements.extensions(b, a)


# Modules whose GET answers carry other parties' objects when a receiver forgets to filter: a
# session or CDR belongs to the eMSP of its cdr_token, a location, tariff or token to its
# country_code and party_id (2.2.1, each module's object description).
CHECKED_ANSWERS: Final = frozenset({"sessions", "cdrs", "locations", "tariffs", "tokens"})


def visible(module: str, caller: PartyKey, asked: PartyKey, item: object) -> bool:
    """Whether ``item``, in a receiver's answer to ``caller``'s GET of ``asked``'s ``module``,
    is the caller's to see: its own sessions and CDRs; the asked party's locations, tariffs and
    tokens. A platform that serves several parties and forgets to filter must not leak one
    party's drivers or sites to another."""
    if module not in CHECKED_ANSWERS:
        return True
    if not isinstance(item, dict):
        return False
    if module in ("sessions", "cdrs"):
        token = item.get("cdr_token")
        return isinstance(token, dict) and _owner(token) == caller
    return _owner(item) == asked


def _owner(obj: dict[str, object]) -> PartyKey:
    return (str(obj.get("country_code", "")).upper(), str(obj.get("party_id", "")).upper())


def knows_of(policy: Policy, party: PartyKey, other: PartyKey) -> bool:
    """HubClientInfo: ``party`` is told of ``other`` when agreements are off, or when the two
    have an agreement for any module (README: "Roaming agreements")."""
    return not policy.required or policy.agreements.related(party, other)


# The statuses of a platform whose parties the hub lists as reachable in its 2.3.0 credentials
# (README: "OCPI 2.3.0 platforms"): CONNECTED, and OFFLINE, for which the hub still queues
# (an outage would otherwise change every 2.3.0 platform's credentials twice). Not PLANNED (not
# registered: nothing can reach it yet), SUSPENDED or removed (the hub forwards nothing to it).
REACHABLE: Final = frozenset({CONNECTED, OFFLINE})


def reachable_roles(
    platforms: Iterable[Platform], policy: Policy, listener: Platform, hub: PartyKey
) -> list[CredentialsRole]:
    """The parties ``listener`` may reach through the hub, as the ``roles`` of the hub's 2.3.0
    credentials (2.3.0 §7.3.1: a Roaming Hub's platform is "expected to include the parties
    that are reachable through the Roaming Hub"): each registered role of every other platform
    in a ``REACHABLE`` status that ``listener`` may know of (``knows_of``: agreements off, or
    an agreement with one of its parties), with the business details it registered; never the
    hub's own party, never HUB (2.3.0 §17.10 has no such role). Sorted, each (role, party) once
    (2.3.0 §7.3.1: "Every role needs a unique combination")."""
    mine = {role.key for role in listener.roles}
    found: dict[tuple[str, str, str], CredentialsRole] = {}
    for platform in platforms:
        if platform.id == listener.id or platform.deleted or not platform.registered:
            continue
        if platform.status not in REACHABLE:
            continue
        for role in platform.registered_roles:
            key = (role.country_code.upper(), role.party_id.upper())
            name = role.role.upper()
            if key == hub or name == "HUB" or (name, *key) in found:
                continue
            if any(own == key or knows_of(policy, own, key) for own in mine):
                found[(name, *key)] = role
    return [found[k] for k in sorted(found)]


def check_modules(modules: Iterable[str]) -> tuple[str, ...]:
    """The modules an agreement may name, sorted and once each; ValueError names an unknown
    one."""
    found = sorted(set(modules))
    for module in found:
        if module not in FUNCTIONAL_MODULES:
            known = ", ".join(FUNCTIONAL_MODULES)
            raise ValueError(f"unknown module {module!r} (one of {known})")
    return tuple(found)


# --- rate limits -------------------------------------------------------------------------

ANY_MODULE: Final = "*"


def parse_limits(items: Iterable[str]) -> dict[str, Rate]:
    """``module=rate`` items (``tokens=100/min``, ``*=3000/min``) as a map; a bare rate is
    ``*``. ValueError names what is wrong."""
    found: dict[str, Rate] = {}
    for item in items:
        module, sep, rate = item.partition("=")
        if not sep:
            module, rate = ANY_MODULE, item
        module = module.strip()
        if module != ANY_MODULE and module not in FUNCTIONAL_MODULES:
            raise ValueError(f"unknown module {module!r} in rate limit {item!r}")
        found[module] = Rate.parse(rate)
    return found


def limit_for(
    module: str, overrides: Mapping[str, Rate] | None, default: Rate | None
) -> Rate | None:
    """The limit of one platform's calls of ``module`` (each module counted on its own): the
    platform's own for the module, else its own for every module (``*``), else the hub's
    ``--rate-limit``; None: no limit."""
    if overrides:
        found = overrides.get(module) or overrides.get(ANY_MODULE)
        if found is not None:
            return found
    return default


def retry_after(wait: float) -> int:
    """``Retry-After`` in whole seconds (RFC 9110 §10.2.3), at least 1."""
    return max(1, math.ceil(wait))
