"""HubClientInfo (2.2.1 "HubClientInfo module"): every platform learns which parties are behind
the hub and in what state.

The hub is the module's sender: a paginated list of every party (each role of each platform)
with its status. And it pushes: whenever a platform is created (PLANNED), connects, goes
OFFLINE, comes back, or is suspended or removed (SUSPENDED), each of its parties is PUT to every
other registered platform with a hubclientinfo RECEIVER endpoint, through the durable queue. A
platform that connects gets the whole list pushed once.

The pushes are not queued in the request that changed the status: that would make creating a
platform or a credentials handshake cost one queued message per platform. The change is only
marked (``hub.store.announcements``, a few Redis commands), and the supervised task ``run``, in
every hub process, announces it a moment later: at once in the process that made the change, on
its next poll in the others. Several changes of one platform before it is announced are one
announcement, of the status it has by then (README: "HubClientInfo").
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Iterator

import msgspec

from hub.delivery.messages import Message
from hub.delivery.queue import Queue
from hub.errors import HubError
from hub.ocpi.credentials import ROLES as ROLES_221
from hub.ocpi.envelope import timestamp_now
from hub.ocpi.hubclientinfo import ClientInfo
from hub.ocpi.lanes import CPO_SIDE
from hub.ocpi.versions import HUBCLIENTINFO, RECEIVER, V2_3_0
from hub.partners import Partners
from hub.policy import PARTNER_ROLES, Policy, knows_of
from hub.records import CONNECTED, OFFLINE, SUSPENDED, PartyKey, Platform, can_receive
from hub.store.announcements import Announcements, Taken
from hub.store.cache import PlatformCache
from hub.store.platforms import PlatformStore, Snapshot

log = logging.getLogger("hub.hubclientinfo")

_encode = msgspec.json.Encoder()

# Messages per Queue.put: one round trip each, and no single pipeline so large that it holds
# Redis (or the process's memory) for long when thousands of platforms listen.
CHUNK = 1000
# Announcements taken at once, and how long they are this process's: one not done by then
# (the process died, or is stuck) is taken again by any process. With 10,000 listeners one
# announcement of a registration queues 20,000 messages (about 2 s), so a few at a time stay
# well inside the lease.
TAKE = 4
LEASE = 60.0
# How often a process looks for announcements that other processes marked (its own wake it).
POLL_INTERVAL = 1.0


def client_infos(platform: Platform) -> list[ClientInfo]:
    last_updated = platform.status_since or platform.created_at
    return [
        ClientInfo(
            party_id=r.party_id,
            country_code=r.country_code,
            role=r.role,
            status=platform.status,
            last_updated=last_updated,
        )
        for r in platform.roles
    ]


def listing(
    platforms: Iterable[Platform], policy: Policy | None = None, to: Platform | None = None
) -> list[ClientInfo]:
    """Every party (that ``to`` may know of, under ``policy``), oldest change first (stable:
    then by party)."""
    infos = [info for platform in platforms for info in client_infos(platform)]
    if policy is not None and to is not None:
        infos = [info for info in infos if told(policy, to, info)]
    return sorted(infos, key=lambda i: (i.last_updated, i.country_code, i.party_id, i.role))


def told(policy: Policy, listener: Platform, info: ClientInfo) -> bool:
    """``listener`` learns of ``info``'s party: agreements are off, it is one of its own, or
    one of its parties has an agreement with it."""
    if not readable(info, listener):
        return False
    party = (info.country_code, info.party_id)
    return any(role.key == party or knows_of(policy, role.key, party) for role in listener.roles)


def readable(info: ClientInfo, listener: Platform) -> bool:
    """A role 2.3.0 added (PTP) is not a 2.2.1 Role: a 2.2.1 or 2.1.1 listener could not read
    it (2.2.1 "HubClientInfo module", ClientInfo.role), and could do nothing with a payment
    terminal provider anyway."""
    return info.role in ROLES_221 or listener.version == V2_3_0


def _listens(platform: Platform) -> bool:
    # The delivery worker decides with the same predicate: what is queued here can be sent.
    return can_receive(platform, HUBCLIENTINFO, RECEIVER)


def _message(info: ClientInfo) -> Message:
    return Message(
        module=HUBCLIENTINFO,
        interface=RECEIVER,
        method="PUT",
        path=f"{info.country_code}/{info.party_id}",
        body=msgspec.Raw(_encode.encode(info)),
        # A configuration module: no routing headers (2.2.1 transport, "Request headers").
        sender=None,
        receiver=None,
        object=f"{HUBCLIENTINFO}:{info.country_code}:{info.party_id}:{info.role}",
        full_state=True,
        correlation_id=str(uuid.uuid4()),
        enqueued_at=time.time(),
    )


class Announcer:
    def __init__(
        self,
        cache: PlatformCache,
        store: PlatformStore,
        queue: Queue,
        wake: Callable[[], None],
        pending: Announcements,
        partners: Partners | None = None,
        *,
        poll_interval: float = POLL_INTERVAL,
        lease: float = LEASE,
        chunk: int = CHUNK,
    ) -> None:
        """``partners``: under ``--agreements required`` a platform hears only of its
        partners' parties (None: agreements are off). ``wake``: the delivery loop's, called
        after messages were queued."""
        self._cache = cache
        self._store = store
        self._queue = queue
        self._wake = wake
        self._pending = pending
        self._partners = partners
        # The platforms that listen, and the copy of the platforms they were taken from.
        self._listeners: tuple[Snapshot, dict[str, Platform]] | None = None
        self._poll_interval = poll_interval
        self._lease = lease
        self._chunk = chunk
        self._poked = asyncio.Event()

    async def _policy(self) -> Policy:
        return Policy() if self._partners is None else await self._partners.policy()

    # --- the status listener (in the request that changed the status) ---------------------

    async def status_changed(self, platform: Platform, old_status: str | None) -> None:
        """Mark the change for announcement; the pushes are queued by ``run``. Whether the
        platform is owed the whole list is decided here, where the status it came from is
        known: it connected, and not by coming back from OFFLINE (a newly registered or
        resumed platform missed what happened before)."""
        listing = platform.status == CONNECTED and old_status != OFFLINE
        await self._pending.mark(platform.id, listing=listing)
        self._poked.set()

    # --- the supervised task -------------------------------------------------------------

    async def run(self) -> None:
        """Announce what is due, then wait for a change of this process or the next poll."""
        while True:
            self._poked.clear()
            try:
                if await self.announce_due():
                    continue  # more may be due
            except HubError as e:
                # Redis is away (a restart, a failover): what was marked stays marked, and
                # what was taken is due again when its lease ends; try again on the next poll.
                log.warning("HubClientInfo announcements wait: %s", e.message)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), timeout=self._poll_interval)

    async def announce_due(self) -> int:
        """Take the due announcements (at most ``TAKE``), queue their pushes, mark them done;
        returns how many were taken."""
        taken = await self._pending.take(TAKE, self._lease)
        if not taken:
            return 0
        snapshot = await self._cache.current()
        policy = await self._policy()
        for announcement in taken:
            await self._announce(announcement, snapshot, policy)
            await self._pending.done(announcement)
        return len(taken)

    async def _announce(self, taken: Taken, snapshot: Snapshot, policy: Policy) -> None:
        # The record as stored now, not as this process's copy has it: the change may have
        # been made by another process a moment ago.
        platform = await self._store.get(taken.platform_id)
        if platform is None:
            return
        infos = client_infos(platform)
        items: Iterable[tuple[str, Message]] = (
            (listener.id, _message(info))
            for listener in self._listening(snapshot).values()
            if listener.id != platform.id
            for info in infos
            if told(policy, listener, info)
        )
        await self._put(items)
        if taken.listing and _listens(platform):
            others = [p for p in snapshot.platforms.values() if p.id != platform.id]
            listed = listing(others, policy, platform)
            await self._put((platform.id, _message(info)) for info in listed)

    def _listening(self, snapshot: Snapshot) -> dict[str, Platform]:
        """The platforms with a hubclientinfo RECEIVER endpoint, kept up to date with only the
        platforms that changed (going through 10,000 for each announcement costs ~8 ms)."""
        if self._listeners is None or self._listeners[0] is not snapshot:
            changed = None
            if self._listeners is not None:
                changed = self._cache.changed_since(self._listeners[0].version)
            if changed is None:
                found = {i: p for i, p in snapshot.platforms.items() if _listens(p)}
            else:
                found = dict(self._listeners[1]) if self._listeners else {}
                for platform_id in changed:
                    record = snapshot.platforms.get(platform_id)
                    if record is not None and _listens(record):
                        found[platform_id] = record
                    else:
                        found.pop(platform_id, None)
            self._listeners = (snapshot, found)
        return self._listeners[1]

    # --- agreements (few platforms concerned: announced in the request) -------------------

    async def agreement_changed(self, cpo: PartyKey, partner: PartyKey, *, ended: bool) -> None:
        """A new agreement tells each side of the other's parties; an ended one (when no other
        agreement joins the two) tells each that the other is SUSPENDED for it."""
        snapshot = await self._cache.current()

        def platform_of(key: PartyKey, roles: frozenset[str]) -> Platform | None:
            for party in sorted(snapshot.granted_at.get(key, ())):
                if party.role in roles:
                    return snapshot.platforms.get(snapshot.granted[party])
            return None

        sides = (platform_of(cpo, CPO_SIDE), platform_of(partner, PARTNER_ROLES))
        if sides[0] is None or sides[1] is None or sides[0].id == sides[1].id:
            return
        items = []
        for (speaker, source), target in (
            ((cpo, sides[0]), sides[1]),
            ((partner, sides[1]), sides[0]),
        ):
            if not _listens(target):
                continue
            for info in client_infos(source):
                if (info.country_code, info.party_id) != speaker or not readable(info, target):
                    continue
                if ended:
                    info = msgspec.structs.replace(
                        info, status=SUSPENDED, last_updated=timestamp_now()
                    )
                items.append((target.id, _message(info)))
        await self._put(items)

    async def _put(self, items: Iterable[tuple[str, Message]]) -> None:
        """Queue ``items`` in chunks of ``chunk`` (one pipeline each), waking delivery after
        each, so that the first receivers get theirs while the rest are queued."""
        for chunk in _chunks(items, self._chunk):
            await self._queue.put(chunk)
            self._wake()


def _chunks(items: Iterable[tuple[str, Message]], size: int) -> Iterator[list[tuple[str, Message]]]:
    chunk: list[tuple[str, Message]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
