"""Queueing each broadcast push for its receivers, off the sender's request.

The sender of a push to the hub is answered once the push is recorded (``hub.store.fanouts``:
one write, whatever the number of receivers: README "Broadcast, GET-all and queued delivery").
One hub process at a time, the leader, takes the recorded pushes in the order they came and
queues each for every receiver that may have it (``receivers_of``: pure), a thousand messages a
round trip; then it deletes the record. In order and one at a time, so that two pushes of one
object reach every receiver's queue in the order they came. Every process tries to lead; the
lead expires when its holder dies, and the next leader queues what is left (again, for a push
its predecessor had begun, only the receivers that do not have it yet). A push reaches each
receiver's queue only after the pushes recorded before it (``Queue.put(push=)``), whatever a
former leader still writes late.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Iterator

from hub.bridge import CORE
from hub.delivery.messages import Message
from hub.delivery.queue import Queue
from hub.errors import HubError
from hub.ocpi.lanes import LANES, Lane
from hub.ocpi.paths import encode_segments
from hub.ocpi.versions import RECEIVER
from hub.policy import Policy
from hub.records import PartyKey, can_receive
from hub.routing import PlatformEntry, RoutingTable
from hub.store.fanouts import Fanouts, Pushed

log = logging.getLogger("hub.fanout")

LEAD_SECONDS = 3.0  # the lead, renewed for every push and every WAIT_MS at least
WAIT_MS = 1000  # the leader waits this long for a push before it renews its lead
FOLLOW_SECONDS = 0.5  # how often a process that does not lead asks for the lead
CHUNK = 1000  # messages queued in one round trip
PUSHES = 16  # recorded pushes read at once

Tables = Callable[[], Awaitable[tuple[RoutingTable, Policy]]]


class FanOut:
    def __init__(
        self,
        fanouts: Fanouts,
        queue: Queue,
        tables: Tables,
        wake: Callable[[], None],
        hub: PartyKey,
    ) -> None:
        """``tables``: the routing table and roaming policy of now; ``wake``: delivery has
        something new; ``hub``: the hub's own party (the sender of what it queues)."""
        self._fanouts = fanouts
        self._queue = queue
        self._tables = tables
        self._wake = wake
        self._hub = hub
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"

    async def run(self) -> None:
        """Lead when nobody does and queue what was pushed; until cancelled."""
        try:
            while True:
                try:
                    if await self._fanouts.lead(self.consumer, LEAD_SECONDS):
                        await self._round()
                        continue
                except HubError as e:  # Redis away a moment: what is recorded waits
                    log.warning("broadcast pushes cannot be queued now: %s", e.message)
                await asyncio.sleep(FOLLOW_SECONDS)
        finally:
            # Handed back for the next leader; else the lead expires by itself.
            with contextlib.suppress(HubError, TimeoutError):
                await asyncio.wait_for(self._fanouts.resign(self.consumer), FOLLOW_SECONDS)

    async def _round(self) -> None:
        for entry_id, pushed in await self._fanouts.waiting(PUSHES, WAIT_MS):
            # Still the leader (the lead renewed for the push at hand): else another process
            # may be queueing the same pushes, and two would not keep their order.
            if not await self._fanouts.lead(self.consumer, LEAD_SECONDS):
                return
            if pushed is not None:
                await self._queue_for_receivers(entry_id, pushed)
            await self._fanouts.done(entry_id)

    async def _queue_for_receivers(self, entry_id: str, pushed: Pushed) -> None:
        table, policy = await self._tables()
        # A chunk at a time: finding 10,000 receivers at once would hold the event loop (and
        # the requests waiting on it) for tens of milliseconds. The table and policy are
        # snapshots, so what is found later is what would have been found now.
        receivers = receivers_of(pushed, table, policy, self._hub)
        while items := list(itertools.islice(receivers, CHUNK)):
            # Named by its record: a receiver that has it (a former leader began it) or a
            # later push (a former leader's write that came late) does not get it again.
            await self._queue.put(items, push=entry_id)
            self._wake()


def receivers_of(
    pushed: Pushed, table: RoutingTable, policy: Policy, hub: PartyKey
) -> Iterator[tuple[str, Message]]:
    """The message for each platform that receives this push: of the other side, with the
    module's RECEIVER endpoint (OFFLINE ones too: they get it when they are back), allowed by
    the roaming policy, and of a version that can carry it."""
    lane = LANES[(pushed.module, RECEIVER)]
    written = {(w.version, w.keep): w for w in pushed.written}
    owner = pushed.owner
    # The same for every receiver: computed once (quoting the path for each of 10,000
    # receivers took most of the ~100 ms this function took).
    path = encode_segments(pushed.segments)
    thing = f"{lane.module}:{'/'.join(pushed.segments).upper()}"
    for platform, party in _receivers(table, lane, pushed.caller_id):
        if not policy.reaches(owner, party, module=lane.module):
            continue
        version = platform.record.version or CORE
        keep = version != CORE and policy.extensions(owner, party)
        found = written.get((version, keep))
        if found is None:
            continue  # its version cannot carry it (or it registered in it since)
        yield (
            platform.id,
            Message(
                module=lane.module,
                interface=RECEIVER,
                method=found.method,
                path=path,
                query=found.query,
                body=found.body,
                sender=hub,
                receiver=party,
                owner=owner,
                object=thing,
                full_state=found.method == "PUT",
                correlation_id=pushed.correlation_id,
                enqueued_at=pushed.enqueued_at,
            ),
        )


def versions_of(table: RoutingTable) -> set[str]:
    """The versions platforms are registered in (a push is written once for each)."""
    return {p.record.version or CORE for p in table.platforms.values()}


def _receivers(
    table: RoutingTable, lane: Lane, caller_id: str
) -> Iterator[tuple[PlatformEntry, PartyKey]]:
    """Every platform of the other side that can receive the module's pushes
    (``hub.records.can_receive``), OFFLINE ones too: they get what they missed when they
    are back."""
    for platform in table.platforms.values():
        if platform.id == caller_id or not can_receive(platform.record, lane.module, RECEIVER):
            continue
        parties = sorted(p for p in platform.parties if p.role in lane.receivers)
        if parties:
            yield platform, (parties[0].country_code, parties[0].party_id)
