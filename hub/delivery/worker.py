"""Delivering the queues: every hub process runs a ``Deliverer``. It takes the platforms that
have something to do from the schedule (``hub.delivery.schedule``), at most ``CONCURRENCY`` at a
time, and for each reads a batch of its queue and sends it (``hub.delivery.lanes``). The
platforms taken together are read in one Redis round trip, and those that finish together are
let go in two (``hub.delivery.bulk``): in a broadcast, where each queue holds one message, a
delivery costs a small share of a round trip.

The holder of a platform also keeps its health: after ``offline_after`` failures in a row it is
OFFLINE, and its versions endpoint is probed with backoff, queue or no queue, until it answers
(2.2.1 HubClientInfo: "OFFLINE"). A CONNECTED platform the hub has not heard from for
``keepalive_interval`` seconds gets a GET of its versions (HubClientInfo, keep-alive), when the
keep-alive schedule says so: nothing polls the platforms one by one.

Every task has an owner: the loops and the per-platform tasks live in a TaskGroup inside
``run``. Whatever goes wrong with one platform stays there: it is logged, the platform is let go
and retried after a backoff. Cancelling ``run`` stops everything within
``hub.delivery.stopping.STOP_SECONDS``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from hub.delivery.bulk import Collector
from hub.delivery.health import Health, backoff
from hub.delivery.lanes import Lanes, lane_of
from hub.delivery.messages import Message
from hub.delivery.queue import LetGo, Queue
from hub.delivery.reading import Wanted
from hub.delivery.schedule import Held
from hub.delivery.sending import Sender
from hub.delivery.stopping import RECANCEL_SECONDS, stop, wait_for_event, warn
from hub.errors import HubError
from hub.forward import PlatformClient
from hub.partners import Partners
from hub.records import CONNECTED, OFFLINE, PLANNED, Platform, deliverable
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.platforms import PlatformStore

log = logging.getLogger("hub.delivery")

HOLD_SECONDS = 10.0  # a taken platform is this process's for so long; renewed every third
POLL_SECONDS = 0.5  # how often work queued by other processes is looked for (own: at once)
CONCURRENCY = 256  # platforms delivered at the same time by one process
TAKE_COUNT = 64  # platforms taken in one round trip
BATCH = 100  # messages read from one queue at once
PROBES = 32  # keep-alives under way at the same time
SWEEP_SECONDS = 300.0  # how often every queue is checked for work nobody was told of
REGISTERED_GRACE = 1.0  # seconds before the first call to a platform that just registered
RELEASE_SECONDS = 1.0  # how long a stopping task tries to let its platform go (it expires)


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        cache: PlatformCache,
        store: PlatformStore,
        queue: Queue,
        client: PlatformClient,
        partners: Partners | None = None,
    ) -> None:
        """``partners``: the roaming policy,
        checked again before each send of a broadcast (None: agreements are off)."""
        self._settings = settings
        self._cache = cache
        self._store = store
        self._queue = queue
        self._schedule = queue.schedule
        sender = Sender(cache, client, settings.handshake_timeout)
        self._health = Health(settings, cache, store, queue.schedule, sender)
        self._lanes = Lanes(settings, queue, sender, partners)
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        # The reads of the platforms taken together in one round trip, their let-gos in two;
        # at most as many platforms as one take at a time (up to BATCH entries each: a read or
        # an acknowledgement of a few thousand entries holds Redis for milliseconds).
        self._reads: Collector[Wanted, tuple[list[tuple[str, Message]], bool]] = Collector(
            self._read, limit=TAKE_COUNT, what="reading queues"
        )
        self._let_gos: Collector[LetGo, None] = Collector(
            self._settle, limit=TAKE_COUNT, what="letting platforms go"
        )
        self._group: asyncio.TaskGroup | None = None  # run()'s: the owner of every task here
        self._tasks: set[asyncio.Task[None]] = set()  # every task of the group not done yet
        self._wake = asyncio.Event()
        self._held: dict[str, asyncio.Event] = {}  # platforms held here -> set when lost
        self._probing: set[str] = set()  # keep-alives under way
        # Platforms whose last batch here left nothing pending: the next needs no look at it.
        self._clean: set[str] = set()
        self._took = self._swept = False
        store.on_status_change(self.status_changed)

    def wake(self) -> None:
        """Something was queued by this process: look for work now."""
        self._wake.set()

    @property
    def delivering(self) -> bool:
        """The loops run and have read the schedule once: queued messages are being sent."""
        return self._group is not None and self._took and self._swept

    async def status_changed(self, platform: Platform, old_status: str | None) -> None:
        """A platform became deliverable again (resumed, registered, OFFLINE): look at it now,
        whatever waits for it; a CONNECTED one is next kept alive an interval from now."""
        if not deliverable(platform):
            return
        if old_status == PLANNED and platform.registered_by == "platform":
            # It registered (credentials POST): it learns the token the hub calls it with from
            # the hub's answer, and knows it only a moment after that answer left.
            await self._schedule.defer(platform.id, REGISTERED_GRACE)
        else:
            await self._schedule.mark([platform.id])
        if platform.status == CONNECTED:
            await self._schedule.keepalive_in(platform.id, self._settings.keepalive_interval)
        self.wake()

    # --- the loops ---------------------------------------------------------------------

    async def run(self) -> None:
        """Deliver what the schedule says, keep platforms alive; until cancelled."""
        async with asyncio.TaskGroup() as group:
            self._group = group
            # Not among the tasks stopped first: the platforms stopping are let go through it.
            settling = group.create_task(self._let_gos.run(), name="delivery-let-gos")
            try:
                self._spawn(self._reads.run(), "delivery-reads")
                self._spawn(self._renewing(), "delivery-holds")
                self._spawn(self._keeping_alive(), "delivery-keepalives")
                self._spawn(self._sweeping(), "delivery-sweep")
                await self._taking()
            finally:
                # Platforms are let go within RELEASE_SECONDS; then whatever still runs is
                # cancelled again, so that the group's exit does not wait for it.
                await stop(self._tasks, grace=RELEASE_SECONDS + RECANCEL_SECONDS)
                if running := [task.get_name() for task in self._tasks if not task.done()]:
                    log.warning("delivery tasks did not stop in time: %s", ", ".join(running))
                await stop({settling})
                self._group = None
                self._took = self._swept = False

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task owned by run()'s TaskGroup. ``work`` must handle its own errors: a failing
        child would cancel all the others."""
        assert self._group is not None, "only run() spawns tasks"
        task = self._group.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _taking(self) -> None:
        """Take due platforms while there is room; sleep until the next is due, something is
        queued here or a platform is let go, or ``POLL_SECONDS`` (other processes' work)."""
        failures = 0
        while True:
            pause = POLL_SECONDS
            try:
                room = min(CONCURRENCY - len(self._held), TAKE_COUNT)
                if room > 0:
                    taken = await self._schedule.take(self.consumer, HOLD_SECONDS, room)
                    self._took = True
                    for held in taken.held:
                        if held.platform_id not in self._held:  # else: a renewal, in effect
                            self._held[held.platform_id] = asyncio.Event()
                            self._spawn(self._serve(held), f"deliver-{held.platform_id}")
                    if len(taken.held) == room:
                        pause = 0.0
                    elif taken.next_in is not None:
                        pause = min(pause, taken.next_in)
                failures = 0
            except Exception as e:  # the loop must outlive any failure
                failures += 1
                warn("taking due platforms failed", e)
                pause = backoff(failures, POLL_SECONDS, self._settings.retry_max)
            if pause > 0:
                await wait_for_event(self._wake, pause)
            self._wake.clear()

    async def _renewing(self) -> None:
        """Renew the holds of this process; a hold another process took is lost at once, and
        every hold is given up when Redis has not confirmed them for a whole hold."""
        confirmed = time.monotonic()
        while True:
            await asyncio.sleep(HOLD_SECONDS / 3)
            held = list(self._held)
            try:
                lost = await self._schedule.renew(self.consumer, HOLD_SECONDS, held)
                confirmed = time.monotonic()
            except Exception as e:
                warn("holds cannot be renewed", e)
                lost = set(held) if time.monotonic() - confirmed > HOLD_SECONDS * 2 / 3 else set()
            for platform_id in lost:
                if (event := self._held.get(platform_id)) is not None:
                    log.warning("platform %s is delivered by another process now", platform_id)
                    event.set()

    async def _sweeping(self) -> None:
        """Now and every ``SWEEP_SECONDS``: every queue that holds something is due, every
        OFFLINE platform is probed, every CONNECTED one has a keep-alive scheduled (whatever
        a crash or an older release left behind)."""
        while True:
            try:
                platforms = [
                    p for p in (await self._cache.current()).platforms.values() if deliverable(p)
                ]
                await self._queue.sweep([p.id for p in platforms])
                await self._schedule.mark(p.id for p in platforms if p.status == OFFLINE)
                await self._schedule.keepalives_spread(
                    [p.id for p in platforms if p.status == CONNECTED],
                    self._settings.keepalive_interval,
                )
                self._swept = True
                self.wake()
                await asyncio.sleep(SWEEP_SECONDS)
            except Exception as e:
                warn("the delivery sweep failed", e)
                await asyncio.sleep(min(SWEEP_SECONDS, self._settings.retry_max))

    # --- one platform ------------------------------------------------------------------

    async def _serve(self, held: Held) -> None:
        """Deliver one batch of a held platform's queue (or probe it), then let it go: due
        again now (more waits), after a backoff (it failed), or when something is queued."""
        platform_id = held.platform_id
        lost = self._held[platform_id]
        again: float | None = None
        failures = held.failures
        batch = _Batch(clean=platform_id in self._clean)
        self._clean.discard(platform_id)
        try:
            again, failures = await self._work(held, lost, batch)
        except HubError as e:
            log.warning("delivery to platform %s stopped: %s", platform_id, e.message)
            failures += 1
            again = backoff(failures, self._settings.retry_base, self._settings.retry_max)
        except Exception:
            log.exception("delivery to platform %s failed unexpectedly", platform_id)
            failures += 1
            again = backoff(failures, self._settings.retry_base, self._settings.retry_max)
        finally:
            holding = not lost.is_set()
            let_go = await self._let_go(LetGo(platform_id, batch.done, again, failures, holding))
            if let_go and holding and batch.left_clean:
                self._clean.add(platform_id)
            self._held.pop(platform_id, None)
            self.wake()

    async def _let_go(self, let_go: LetGo) -> bool:
        """Acknowledge what was delivered and finish the hold (if it is still this process's),
        together with the other platforms let go at the same time; True when done. While the
        task is being cancelled (a stop), it waits for that at most RELEASE_SECONDS (the hold
        expires anyway), so that the stop does not wait for Redis."""
        settled = self._let_gos.submit(let_go)
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            await asyncio.wait({settled}, timeout=RELEASE_SECONDS)
            if not settled.done():
                return False
        try:
            await settled  # cancelled with its waiter: the let-go is still made
        except HubError as e:
            warn(f"platform {let_go.platform_id} not let go (its hold expires)", e)
            return False
        return True

    async def _read(
        self, wanted: list[Wanted]
    ) -> list[tuple[list[tuple[str, Message]], bool] | HubError]:
        return await self._queue.batches(self.consumer, wanted, BATCH)

    async def _settle(self, let_gos: list[LetGo]) -> list[HubError | None]:
        return await self._queue.settle(self.consumer, let_gos)

    async def _work(
        self, held: Held, lost: asyncio.Event, batch: _Batch
    ) -> tuple[float | None, int]:
        """Probe or deliver (noting in ``batch`` what to acknowledge); returns (when to look
        again, failures in a row)."""
        platform_id, failures = held.platform_id, held.failures
        platform = (await self._cache.current()).platforms.get(platform_id)
        if platform is None or not deliverable(platform):
            return None, failures  # suspended or removed: what is queued waits (or expires)
        claim = held.last_holder != self.consumer
        if platform.status == OFFLINE:
            if claim:
                await self._queue.claim(platform_id, self.consumer)
                claim = False
            if not await self._health.probe_offline(platform):
                self._lanes.last_error[platform_id] = (
                    "the platform is OFFLINE and its versions endpoint does not answer"
                )
                # Nothing is sent, but what outlived its TTL meanwhile is parked.
                entries, _ = await self._queue.batch(platform_id, self.consumer, BATCH)
                await self._lanes.expire(platform_id, entries)
                return await self._failed(platform_id, failures + 1)
        pending = not (batch.clean and held.last_holder == self.consumer)
        entries, full = await self._reads.submit(Wanted(platform_id, pending, claim))
        if not entries:
            batch.left_clean = True
            return None, 0
        # A newer full state may wait beyond the batch only when the batch is full.
        newest = {}
        if full:
            objects = {m.object for _, m in entries} | {lane_of(m) for _, m in entries}
            newest = await self._queue.newest(platform_id, sorted(objects))
        if not await self._lanes.send(platform, entries, newest, lost, batch.done):
            return await self._failed(platform_id, failures + 1)
        batch.left_clean = not full  # all read, all settled: nothing is pending here
        return (0.0 if full else None), 0

    async def _failed(self, platform_id: str, failures: int) -> tuple[float, int]:
        """One more failure in a row: when to try again; enough of them make the platform
        OFFLINE (then it is probed before anything is sent to it)."""
        if failures >= self._settings.offline_after:
            await self._health.set_status(platform_id, OFFLINE)
        return backoff(failures, self._settings.retry_base, self._settings.retry_max), failures

    # --- keep-alives -------------------------------------------------------------------

    async def _keeping_alive(self) -> None:
        """Take due keep-alives (at most ``PROBES`` under way) and probe them."""
        failures = 0
        while True:
            pause = POLL_SECONDS * 2
            try:
                room = PROBES - len(self._probing)
                if room > 0:
                    due = await self._schedule.keepalives(self._settings.keepalive_interval, room)
                    for platform_id in due:
                        if platform_id not in self._probing:
                            self._probing.add(platform_id)
                            self._spawn(self._keepalive(platform_id), f"keepalive-{platform_id}")
                    pause = 0.0 if len(due) == room else pause
                failures = 0
            except Exception as e:
                failures += 1
                warn("taking due keep-alives failed", e)
                pause = backoff(failures, POLL_SECONDS, self._settings.retry_max)
            await asyncio.sleep(pause)

    async def _keepalive(self, platform_id: str) -> None:
        try:
            await self._health.keepalive(platform_id)
        except Exception as e:
            warn(f"keep-alive of platform {platform_id} failed", e)
        finally:
            self._probing.discard(platform_id)


@dataclass
class _Batch:
    """One hold of a platform: what it delivered (or found moot), acknowledged when it lets
    go; whether the platform's pending entries of this process are known to be none."""

    clean: bool  # none were pending here when it was taken
    done: list[tuple[str, Message]] = field(default_factory=list)
    left_clean: bool = False  # none will be once ``done`` is acknowledged
