"""What the operator does to roaming agreements, and what follows (README: "Roaming agreements").

An agreement joins a CPO party with a party of the other side, both granted to some platform. Under
``--agreements required``:

- a new agreement starts complete: the CPO's kept locations and tariffs are queued to the partner,
  the partner's kept tokens to the CPO (the modules it covers), and each side's HubClientInfo is
  pushed to the other;
- an ended agreement parks what is still queued between the two ("agreement ended"), and when no
  other agreement joins them, each is told the other is SUSPENDED.

With agreements off, agreements are only kept (ready for the switch): nothing else happens.
"""

from __future__ import annotations

import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import msgspec

from hub.bridge import CORE, Bridge, Withheld
from hub.delivery.lanes import AGREEMENT_ENDED
from hub.delivery.messages import Message
from hub.delivery.queue import Queue
from hub.errors import ConflictError, InvalidParametersError, NotFoundError
from hub.hubclientinfo import Announcer
from hub.ocpi.lanes import CPO, LANES
from hub.ocpi.paths import decode_segments, encode_segments
from hub.ocpi.versions import RECEIVER
from hub.partners import Partners
from hub.policy import PARTNER_ROLES, check_modules
from hub.records import Agreement, PartyKey, can_receive, label
from hub.settings import Settings
from hub.store.agreements import AgreementStore, new_agreement
from hub.store.cache import PlatformCache
from hub.store.held import HeldObjects
from hub.store.platforms import Snapshot

# What a new partner is sent from what the hub keeps: the CPO's to the partner, the partner's
# to the CPO.
FROM_CPO = ("locations", "tariffs")
FROM_PARTNER = ("tokens",)


@dataclass(frozen=True)
class Proposal:
    """An agreement as the operator asks for it, before it is checked."""

    cpo: PartyKey
    partner: PartyKey
    modules: Sequence[str] | None = None
    extensions: bool = False


class AgreementDesk:
    def __init__(
        self,
        settings: Settings,
        store: AgreementStore,
        cache: PlatformCache,
        held: HeldObjects,
        queue: Queue,
        wake: Callable[[], None],
        announcer: Announcer,
        partners: Partners,
        bridge: Bridge,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        """``on_change``: told of every agreement added or ended under ``--agreements
        required`` (2.3.0 platforms then hear whom they can reach: hub.reachable)."""
        self._on_change = on_change
        self._settings = settings
        self._bridge = bridge
        self._store = store
        self._cache = cache
        self._held = held
        self._queue = queue
        self._wake = wake
        self._announcer = announcer
        self._partners = partners

    # --- the operator's view ------------------------------------------------------------

    async def find(self, party: PartyKey | None = None) -> list[Agreement]:
        found = await self._store.all()
        if party is None:
            return found
        return [a for a in found if party in (a.cpo, a.partner)]

    async def get(self, agreement_id: str) -> Agreement:
        found = await self._store.get(agreement_id)
        if found is None:
            raise NotFoundError(f"no agreement {agreement_id}")
        return found

    # --- changes ------------------------------------------------------------------------

    async def add(self, proposal: Proposal) -> Agreement:
        """A new agreement; 409 when the same pair has it with the same modules and the same
        ``extensions``."""
        ((agreement, new),) = await self.add_many([proposal], indexed=False)
        if not new:
            raise ConflictError(
                f"{label(agreement.cpo)} and {label(agreement.partner)} have this agreement "
                f"already: {agreement.id}"
            )
        return agreement

    async def add_many(
        self, proposals: Iterable[Proposal], *, indexed: bool = True
    ) -> list[tuple[Agreement, bool]]:
        """Agreements at once (an import): all are checked before any is stored (an error
        names the item, ``[3].partner``); one that exists already is given back as it is
        (False), so importing twice changes nothing."""
        snapshot = await self._cache.current()
        wanted = [
            _checked(snapshot, proposal, f"[{index}]." if indexed else "")
            for index, proposal in enumerate(proposals)
        ]
        found = await self._store.add_many(wanted)
        for agreement, new in found:
            if new:
                await self._welcome(agreement)
        return found

    async def remove(self, agreement_id: str) -> Agreement:
        agreement = await self._store.remove(agreement_id)
        if agreement is None:
            raise NotFoundError(f"no agreement {agreement_id}")
        await self._farewell(agreement)
        return agreement

    # --- what follows -------------------------------------------------------------------

    async def _welcome(self, agreement: Agreement) -> None:
        if not self._partners.required:
            return
        if self._on_change is not None:
            self._on_change()
        snapshot = await self._cache.current()
        items = []
        for owner, receiver, modules in (
            (agreement.cpo, agreement.partner, FROM_CPO),
            (agreement.partner, agreement.cpo, FROM_PARTNER),
        ):
            for module in modules:
                if not agreement.covers(module):
                    continue
                to = _receiving(snapshot, receiver, module)
                if to is None:
                    continue
                for body in await self._held.of_owner(module, owner):
                    message = _full_state(module, owner, receiver, body, self._hub)
                    version = snapshot.platforms[to].version or CORE
                    if message is not None and version != CORE:
                        message = await self._in_version(message, version)
                    if message is not None:
                        items.append((to, message))
        await self._queue.put(items)
        if items:
            self._wake()
        await self._announcer.agreement_changed(agreement.cpo, agreement.partner, ended=False)

    async def _in_version(self, message: Message, version: str) -> Message | None:
        """The message as a receiver of ``version`` takes it (README: "OCPI 2.1.1 platforms");
        None when that version cannot carry it."""
        down = await self._bridge.from_core(
            version,
            message.module,
            RECEIVER,
            message.method,
            decode_segments(message.path),
            message.query,
            bytes(message.body),
        )
        if isinstance(down, Withheld):
            return None
        query, body = down
        return msgspec.structs.replace(message, query=query, body=msgspec.Raw(body))

    async def _farewell(self, agreement: Agreement) -> None:
        if not self._partners.required:
            return
        if self._on_change is not None:
            self._on_change()
        policy = await self._partners.policy()  # without the agreement: the store announced it
        snapshot = await self._cache.current()
        for owner, receiver in (
            (agreement.cpo, agreement.partner),
            (agreement.partner, agreement.cpo),
        ):
            for platform_id in _platforms_of(snapshot, receiver):

                def moot(message: Message, owner: PartyKey = owner) -> bool:
                    return (
                        message.owner == owner
                        and message.receiver is not None
                        and not policy.reaches(owner, message.receiver, module=message.module)
                    )

                await self._queue.park_where(platform_id, moot, AGREEMENT_ENDED)
        if not policy.agreements.related(agreement.cpo, agreement.partner):
            await self._announcer.agreement_changed(agreement.cpo, agreement.partner, ended=True)

    @property
    def _hub(self) -> PartyKey:
        return (self._settings.country_code.upper(), self._settings.party_id.upper())


def _checked(snapshot: Snapshot, proposal: Proposal, where: str) -> Agreement:
    """The agreement proposed, or 400 naming the field: both parties must be granted, the
    ``cpo`` as a CPO and the ``partner`` in a role of the other side."""
    cpo = (proposal.cpo[0].upper(), proposal.cpo[1].upper())
    partner = (proposal.partner[0].upper(), proposal.partner[1].upper())
    roles = {
        key: {p.role for p in snapshot.granted_at[key]}
        for key in (cpo, partner)
        if key in snapshot.granted_at
    }
    if cpo not in roles:
        raise InvalidParametersError(f"{where}cpo: no platform is granted {label(cpo)}")
    if CPO not in roles[cpo]:
        raise InvalidParametersError(f"{where}cpo: {label(cpo)} is not granted the CPO role")
    if partner not in roles:
        raise InvalidParametersError(f"{where}partner: no platform is granted {label(partner)}")
    if not roles[partner] & PARTNER_ROLES:
        sides = ", ".join(sorted(PARTNER_ROLES))
        raise InvalidParametersError(
            f"{where}partner: {label(partner)} has no role of the other side ({sides})"
        )
    modules = None
    if proposal.modules is not None:
        try:
            modules = check_modules(proposal.modules)
        except ValueError as e:
            raise InvalidParametersError(f"{where}modules: {e}") from None
        if not modules:
            raise InvalidParametersError(f"{where}modules: name at least one, or leave it out")
    return new_agreement(cpo, partner, modules, extensions=proposal.extensions)


def _platforms_of(snapshot: Snapshot, party: PartyKey) -> set[str]:
    return {snapshot.granted[p] for p in snapshot.granted_at.get(party, ())}


def _receiving(snapshot: Snapshot, party: PartyKey, module: str) -> str | None:
    """The platform that receives ``module`` pushes for ``party``, when it can."""
    lane = LANES[(module, RECEIVER)]
    for granted in sorted(snapshot.granted_at.get(party, ())):
        if granted.role not in lane.receivers:
            continue
        platform_id = snapshot.granted[granted]
        platform = snapshot.platforms.get(platform_id)
        if platform is not None and can_receive(platform, module, RECEIVER):
            return platform_id
    return None


class _Ids(msgspec.Struct):
    id: str | None = None
    uid: str | None = None
    type: str | None = None


_ids = msgspec.json.Decoder(_Ids)


def _full_state(
    module: str, owner: PartyKey, receiver: PartyKey, body: bytes, hub: PartyKey
) -> Message | None:
    """A kept object as the PUT a broadcast of it would have queued (None for an object
    without its id, which the hub never keeps)."""
    try:
        ids = _ids.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    object_id = ids.uid if module == "tokens" else ids.id
    if not object_id:
        return None
    segments = [owner[0], owner[1], object_id]
    query = urllib.parse.urlencode({"type": ids.type}) if module == "tokens" and ids.type else ""
    return Message(
        module=module,
        interface=RECEIVER,
        method="PUT",
        path=encode_segments(segments),
        query=query,
        body=msgspec.Raw(body),
        sender=hub,
        receiver=receiver,
        owner=owner,
        object=f"{module}:{'/'.join(segments).upper()}",
        full_state=True,
        correlation_id=str(uuid.uuid4()),
        enqueued_at=time.time(),
    )
