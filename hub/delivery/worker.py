"""Delivering the queues: every hub process runs a ``Deliverer``; for each registered platform
one process at a time holds the lease and sends its queue, in order, retrying with exponential
backoff and jitter until the message's TTL, then parking it as a dead letter.

The lease holder also keeps the platform's health: after ``offline_after`` failed deliveries in
a row the platform is OFFLINE, its versions endpoint is probed with backoff (one clock per
platform, ``hub.delivery.health``), queue or no queue, and it is CONNECTED again when it answers
(2.2.1 HubClientInfo: "OFFLINE"). A platform the hub has not heard from for
``keepalive_interval`` seconds gets a GET of its versions (HubClientInfo, keep-alive).

Every task has an owner: the per-platform tasks, their lease renewers and lease releases live
in a TaskGroup inside ``run``. Whatever goes wrong in one platform's task stays there: it is
logged, the lease is handed back and this process leaves the platform alone for a backoff
period. Cancelling ``run`` stops everything within ``STOP_SECONDS`` (see ``_stop``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Collection, Coroutine
from typing import Any

from hub import metrics
from hub.delivery.health import Clock, backoff
from hub.delivery.queue import Message, Queue, later
from hub.errors import HubError, PermanentRefusalError, PlatformError
from hub.forward import PlatformClient, PlatformResponse, read_envelope
from hub.ocpi import headers as h
from hub.ocpi.paths import decode_segments, join
from hub.ocpi.status import SUCCESS
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import V2_1_1
from hub.partners import Partners
from hub.records import CONNECTED, OFFLINE, Platform, deliverable, endpoint_url
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.platforms import PlatformStore

log = logging.getLogger("hub.delivery")

LEASE_SECONDS = 5.0
SCAN_SECONDS = 0.5
READ_BLOCK_MS = 1000
RELEASE_SECONDS = 1.0  # how long a stopping task tries to hand its lease back (it expires anyway)
STOP_SECONDS = 2.5  # how long stopping waits for tasks; they are cancelled again meanwhile
RECANCEL_SECONDS = 0.1
# The reason of a dead letter queued for a partner whose agreement ended before it was sent.
AGREEMENT_ENDED = "agreement ended"


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
        """``partners``: the roaming policy, checked again before each send of a broadcast
        (None: agreements are off)."""
        self._settings = settings
        self._partners = partners
        self._cache = cache
        self._store = store
        self._queue = queue
        self._client = client
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._workers: dict[str, asyncio.Task[None]] = {}  # per platform served here
        self._group: asyncio.TaskGroup | None = None  # run()'s: the owner of every task here
        self._tasks: set[asyncio.Task[None]] = set()  # every task of the group not done yet
        self._wake = asyncio.Event()
        self._clocks: dict[str, Clock] = {}  # per platform: failures in a row, next attempt
        # Per platform whose task failed: failures in a row, and until when (monotonic) this
        # process leaves it alone.
        self._crashes: dict[str, int] = {}
        self._resting: dict[str, float] = {}

    def wake(self) -> None:
        """Something was queued by this process: look for work now."""
        self._wake.set()

    async def run(self) -> None:
        """Take the lease of every deliverable platform nobody serves; until cancelled."""
        failures = 0
        async with asyncio.TaskGroup() as group:
            self._group = group
            try:
                while True:
                    try:
                        await self._scan()
                        failures = 0
                    except Exception as e:  # the scan must outlive any failure
                        failures += 1
                        if isinstance(e, HubError):
                            log.warning("delivery scan failed: %s", e.message)
                        else:
                            log.exception("delivery scan failed unexpectedly")
                    pause = SCAN_SECONDS
                    if failures:
                        pause = backoff(failures, SCAN_SECONDS, self._settings.retry_max)
                    await wait_for_event(self._wake, pause)
                    self._wake.clear()
            finally:
                # Leases are handed back within RELEASE_SECONDS; then whatever still runs is
                # cancelled again, so that the group's exit does not wait for it.
                await _stop(self._tasks, grace=RELEASE_SECONDS + RECANCEL_SECONDS)
                if running := [task.get_name() for task in self._tasks if not task.done()]:
                    log.warning("delivery tasks did not stop in time: %s", ", ".join(running))
                self._group = None

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task owned by run()'s TaskGroup. ``work`` must handle its own errors: a failing
        child would cancel all the others."""
        assert self._group is not None, "only run() spawns tasks"
        task = self._group.create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _scan(self) -> None:
        snapshot = await self._cache.current()
        now = time.monotonic()
        for platform_id, platform in snapshot.platforms.items():
            served = self._workers.get(platform_id)
            if (served is not None and not served.done()) or not deliverable(platform):
                continue
            if self._resting.get(platform_id, 0.0) > now:
                continue
            if await self._queue.acquire(platform_id, self.consumer, LEASE_SECONDS):
                self._workers[platform_id] = self._spawn(
                    self._guarded(platform_id), f"deliver-{platform_id}"
                )

    async def _guarded(self, platform_id: str) -> None:
        """One platform's task: nothing that goes wrong in it reaches the others."""
        try:
            await self._serve(platform_id)
        except HubError as e:
            log.warning("delivery to platform %s stopped: %s", platform_id, e.message)
            self._rest(platform_id)
        except Exception:
            log.exception("delivery to platform %s failed unexpectedly", platform_id)
            self._rest(platform_id)
        finally:
            self._workers.pop(platform_id, None)

    def _rest(self, platform_id: str) -> None:
        """Leave a platform whose task failed alone for a while, longer after each failure in
        a row: a failure that repeats must not become a loop."""
        crashes = self._crashes.get(platform_id, 0) + 1
        self._crashes[platform_id] = crashes
        pause = backoff(crashes, self._settings.retry_base, self._settings.retry_max)
        self._resting[platform_id] = time.monotonic() + pause
        log.info("platform %s: delivery resumes in %.1f s at the earliest", platform_id, pause)

    async def _serve(self, platform_id: str) -> None:
        """Deliver one platform's queue while this process holds its lease; hand it back at
        the end, whatever the end is."""
        lost = asyncio.Event()
        renewer = self._spawn(self._keep_lease(platform_id, lost), f"lease-{platform_id}")
        try:
            await self._drain(platform_id, lost)
        finally:
            await _stop({renewer})
            await self._release(platform_id)

    async def _release(self, platform_id: str) -> None:
        """Hand the lease back, trying for at most RELEASE_SECONDS (it expires anyway)."""
        try:
            release = self._spawn(self._hand_back(platform_id), f"release-{platform_id}")
        except RuntimeError:  # run() was cancelled twice: its group takes no new tasks
            return
        try:
            await asyncio.wait({release}, timeout=RELEASE_SECONDS)
        finally:
            if not release.done():
                log.info("lease of platform %s not handed back in time", platform_id)
                await _stop({release})

    async def _hand_back(self, platform_id: str) -> None:
        try:
            await self._queue.release(platform_id, self.consumer)
        except HubError as e:
            log.info("lease of platform %s not handed back (it expires): %s", platform_id, e)
        except Exception:
            log.exception("lease of platform %s not handed back (it expires)", platform_id)

    async def _drain(self, platform_id: str, lost: asyncio.Event) -> None:
        pending = await self._queue.claim(platform_id, self.consumer)
        newest = await self._queue.newest(platform_id, pending)
        while not lost.is_set():
            platform = await self._platform(platform_id)
            if platform is None or not deliverable(platform):
                return
            if not pending:
                pending = await self._queue.read(
                    platform_id, self.consumer, count=64, block_ms=READ_BLOCK_MS
                )
                if not pending:
                    await self._idle(platform)
                    continue
                # One read of the newest full states for the whole batch, not one a message.
                newest = await self._queue.newest(platform_id, pending)
            entry_id, message = pending.pop(0)
            moot = later(newest.get(message.object), entry_id)
            await self._deliver(platform_id, entry_id, message, lost, moot)

    async def _keep_lease(self, platform_id: str, lost: asyncio.Event) -> None:
        """Renew the lease until it is lost (then the platform's task ends)."""
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                held = await self._queue.renew(platform_id, self.consumer, LEASE_SECONDS)
            except HubError:
                held = False
            except Exception:
                log.exception("lease of platform %s cannot be renewed", platform_id)
                held = False
            if not held:
                lost.set()
                return

    async def _platform(self, platform_id: str) -> Platform | None:
        return (await self._cache.current()).platforms.get(platform_id)

    def _clock(self, platform_id: str) -> Clock:
        return self._clocks.setdefault(platform_id, Clock())

    async def _deliver(
        self, platform_id: str, entry_id: str, message: Message, lost: asyncio.Event, moot: bool
    ) -> None:
        """Send one message until it is delivered, moot, refused for good or expired.

        Before every attempt the platform's clock is waited for; while the platform is OFFLINE
        an attempt is a probe of its versions first. ``moot``: a newer full state of the object
        was queued when the batch was read; after a wait that is asked again (a newer one may
        have come meanwhile)."""
        clock = self._clock(platform_id)
        attempts, last_error, waited = 0, "never tried", False
        while not lost.is_set():
            if moot or (waited and await self._queue.superseded(platform_id, entry_id, message)):
                await self._queue.done(platform_id, entry_id, message)
                metrics.DELIVERIES.labels(platform_id, "superseded").inc()
                return
            remaining = self._settings.message_ttl - (time.time() - message.enqueued_at)
            if remaining <= 0:
                reason = f"expired after {self._settings.message_ttl:g} s; last error: {last_error}"
                await self._queue.park(platform_id, entry_id, message, reason, attempts)
                metrics.DELIVERIES.labels(platform_id, "parked").inc()
                return
            if clock.wait() > 0:
                await wait_for_event(lost, min(clock.wait(), remaining))
                waited = True
                continue
            platform = await self._platform(platform_id)
            if platform is None or not deliverable(platform):
                return  # suspended or removed meanwhile: the message waits (or expires)
            if platform.status == OFFLINE and not await self._probe_offline(platform):
                last_error = "the platform is OFFLINE and its versions endpoint does not answer"
                waited = True
                continue
            url = endpoint_url(platform, message.module, message.interface)
            if url is None:
                reason = f"the platform has no {message.module} {message.interface} endpoint"
                await self._queue.park(platform_id, entry_id, message, reason, attempts)
                metrics.DELIVERIES.labels(platform_id, "parked").inc()
                return
            if not await self._still_partners(message):
                # Queued while an agreement covered it: never sent once it has ended.
                await self._queue.park(platform_id, entry_id, message, AGREEMENT_ENDED, attempts)
                metrics.DELIVERIES.labels(platform_id, "parked").inc()
                return
            attempts += 1
            try:
                await self._send(platform, message, url)
            except PermanentRefusalError as e:
                await self._queue.park(platform_id, entry_id, message, str(e), attempts)
                metrics.DELIVERIES.labels(platform_id, "parked").inc()
                return
            except HubError as e:
                last_error = e.message
                metrics.DELIVERIES.labels(platform_id, "retried").inc()
                await self._failed(platform_id)
                waited = True
                continue
            clock.succeeded()
            self._crashes.pop(platform_id, None)
            await self._queue.done(platform_id, entry_id, message)
            metrics.DELIVERIES.labels(platform_id, "delivered").inc()
            return

    async def _still_partners(self, message: Message) -> bool:
        """The owner of a broadcast object and its receiver may still exchange its module."""
        if self._partners is None or message.owner is None or message.receiver is None:
            return True
        policy = await self._partners.policy()
        return policy.reaches(message.owner, message.receiver, module=message.module)

    async def _send(self, platform: Platform, message: Message, url: str) -> None:
        """Send ``message`` to the platform's endpoint ``url`` (its module and interface)."""
        try:
            # The path was built by the hub from checked ids; read again, it can never leave
            # the endpoint, whatever the queue holds.
            target = join(url, decode_segments(message.path))
        except InvalidInputError as e:
            raise PermanentRefusalError(
                f"the message's path is not a path of ids: {e.message}"
            ) from e
        if message.query:
            target += f"?{message.query}"
        headers = {h.CORRELATION_ID: message.correlation_id}
        if platform.version == V2_1_1:
            pass  # 2.1.1 has no routing headers: the owner is in the path
        elif message.sender is not None:
            headers[h.FROM_COUNTRY_CODE], headers[h.FROM_PARTY_ID] = message.sender
        if message.receiver is not None and platform.version != V2_1_1:
            headers[h.TO_COUNTRY_CODE], headers[h.TO_PARTY_ID] = message.receiver
        token = (await self._cache.current()).outbound.get(platform.id)
        if token is None:
            raise PermanentRefusalError("the hub holds no token for this platform")
        response = await self._client.request(
            message.method,
            target,
            token=token,
            base64_encoded=platform.sends_base64,
            body=message.content,
            headers=headers,
        )
        _judge(response)

    async def _idle(self, platform: Platform) -> None:
        """Nothing queued: probe an OFFLINE platform when its clock says so (it must come back
        even when nothing waits for it), keep a quiet CONNECTED one alive."""
        if platform.status == OFFLINE:
            if self._clock(platform.id).wait() == 0:
                await self._probe_offline(platform)
        else:
            await self._keepalive(platform)

    async def _probe_offline(self, platform: Platform) -> bool:
        """Probe an OFFLINE platform: True, and CONNECTED again, when it answers."""
        try:
            await self._probe(platform)
        except HubError as e:
            log.info("probe of OFFLINE platform %s failed: %s", platform.id, e.message)
            await self._failed(platform.id)
            return False
        self._clock(platform.id).succeeded()
        await self._set_status(platform.id, CONNECTED)
        return True

    async def _probe(self, platform: Platform) -> None:
        """GET the platform's versions: it answers, so it is back (or still there)."""
        token = (await self._cache.current()).outbound.get(platform.id)
        if platform.platform_versions_url is None or token is None:
            raise PlatformError("nothing to probe")
        response = await self._client.request(
            "GET",
            platform.platform_versions_url,
            token=token,
            base64_encoded=platform.sends_base64,
            timeout=self._settings.handshake_timeout,
        )
        if not 200 <= response.status < 300:
            raise PlatformError(f"versions answered HTTP {response.status}")

    async def _keepalive(self, platform: Platform) -> None:
        """HubClientInfo: GET the versions of a platform not heard from for a while."""
        clock = self._clock(platform.id)
        if platform.status != CONNECTED or clock.wait() > 0:
            return
        if time.monotonic() - clock.keepalive_at < self._settings.keepalive_interval:
            return
        last = await self._store.last_seen_epoch(platform.id)
        if last is not None and time.time() - last < self._settings.keepalive_interval:
            clock.keepalive_at = time.monotonic() - (time.time() - last)
            return
        try:
            await self._probe(platform)
        except HubError as e:
            log.info("keep-alive of %s failed: %s", platform.id, e.message)
            await self._failed(platform.id)
            return
        clock.keepalive_at = time.monotonic()
        clock.succeeded()

    async def _failed(self, platform_id: str) -> None:
        """One more failure in a row: the platform's next attempt waits longer, and enough of
        them make it OFFLINE."""
        clock = self._clock(platform_id)
        clock.failed(self._settings.retry_base, self._settings.retry_max)
        if clock.failures >= self._settings.offline_after:
            await self._set_status(platform_id, OFFLINE)

    async def _set_status(self, platform_id: str, status: str) -> None:
        """OFFLINE or CONNECTED again, compare-and-set: an operator's suspend or a removal made
        meanwhile wins (only a deliverable platform's health moves)."""
        moved = False

        def health(platform: Platform) -> Platform:
            nonlocal moved
            moved = deliverable(platform) and platform.status != status
            if moved:
                platform.status = status
            return platform

        platform = await self._store.update(platform_id, health)
        if platform is not None and moved:
            log.warning("platform %s (%s) is now %s", platform_id, platform.name, status)


_LATER = (408, 429)  # Request Timeout, Too Many Requests: "try again later"


def _judge(response: PlatformResponse) -> None:
    """Raise unless the receiver took the message: 4xx and OCPI 2xxx are for good, anything
    else (5xx, 3xxx, no envelope) may pass with a retry. So do HTTP 408 and 429, whatever
    OCPI status their body carries (a rate limiter's answer often says 2000)."""
    if response.status in _LATER:
        raise PlatformError(f"HTTP {response.status}: the receiver asks to try again later")
    if 400 <= response.status < 500:
        raise PermanentRefusalError(f"refused with HTTP {response.status}: {response.body[:200]!r}")
    envelope = read_envelope(response)
    if 2000 <= envelope.status_code < 3000:
        raise PermanentRefusalError(
            f"refused with OCPI {envelope.status_code}: {envelope.status_message}"
        )
    if response.status >= 300 or envelope.status_code != SUCCESS:
        raise PlatformError(f"HTTP {response.status}, OCPI {envelope.status_code}")


# --- waiting and stopping without losing a cancellation ------------------------------------
# On Python 3.11 asyncio.timeout and asyncio.wait_for can lose a cancellation that lands as
# they finish; a worker that loses its cancellation does not stop. asyncio.wait never swallows
# the caller's cancellation: these helpers are built on it. Libraries still use wait_for (redis-py
# around every send), so stopping a task cancels it again as long as it runs.


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` have passed, whichever comes first."""
    if event.is_set():
        return
    waiter = asyncio.create_task(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        await _stop({waiter})


async def _stop(tasks: Collection[asyncio.Task[Any]], grace: float = 0.0) -> None:
    """Cancel tasks of ours and wait until they have finished, for at most ``STOP_SECONDS``.

    A task still running after ``grace`` seconds is cancelled again every ``RECANCEL_SECONDS``,
    and so is one started meanwhile (``tasks`` may be a live set): a lost cancellation delays
    the stop by a moment, not for good. Their outcomes are dropped."""
    started = time.monotonic()
    for task in list(tasks):
        task.cancel()
    while time.monotonic() - started < STOP_SECONDS:
        pending = {task for task in tasks if not task.done()}
        if not pending:
            break
        await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        if time.monotonic() - started >= grace:
            for task in pending:
                task.cancel()
    for task in list(tasks):
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failure while stopping is not worth a warning
