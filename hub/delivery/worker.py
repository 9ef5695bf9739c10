"""Delivering the queues: every hub process runs a ``Deliverer``; for each registered platform
one process at a time holds the lease and sends its queue, in order, retrying with exponential
backoff and jitter until the message's TTL, then parking it as a dead letter.

The lease holder also keeps the platform's health: after ``offline_after`` failed deliveries in
a row the platform is OFFLINE, its versions endpoint is probed with backoff, and it is CONNECTED
again when it answers (2.2.1 HubClientInfo: "OFFLINE"). A platform the hub has not heard from
for ``keepalive_interval`` seconds gets a GET of its versions (HubClientInfo, keep-alive).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import secrets
import socket
import time

import msgspec

from hub import metrics
from hub.delivery.queue import Message, Queue, later
from hub.errors import HubError, PeerError
from hub.forward import PeerClient, PeerResponse
from hub.ocpi import headers as h
from hub.ocpi.envelope import Envelope
from hub.ocpi.status import SUCCESS
from hub.routing import join
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.platforms import CONNECTED, OFFLINE, Platform, PlatformStore

log = logging.getLogger("hub.delivery")

LEASE_SECONDS = 5.0
SCAN_SECONDS = 0.5
READ_BLOCK_MS = 1000
_envelope = msgspec.json.Decoder(Envelope)


class Permanent(Exception):
    """The receiver refused the message for good (a 4xx, an OCPI 2xxx): retrying cannot help."""


class Deliverer:
    def __init__(
        self,
        settings: Settings,
        cache: PlatformCache,
        store: PlatformStore,
        queue: Queue,
        peers: PeerClient,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._store = store
        self._queue = queue
        self._peers = peers
        self.consumer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._wake = asyncio.Event()
        self._failures: dict[str, int] = {}  # failed deliveries in a row, per platform
        self._seen: dict[str, float] = {}  # when the platform last answered (monotonic)

    def wake(self) -> None:
        """Something was queued by this process: look for work now."""
        self._wake.set()

    async def run(self) -> None:
        """Take the lease of every deliverable platform nobody serves; until cancelled."""
        try:
            while True:
                try:
                    await self._scan()
                except HubError as e:
                    log.warning("delivery scan failed: %s", e.message)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SCAN_SECONDS):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            workers = list(self._workers.values())
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _scan(self) -> None:
        snapshot = await self._cache.current()
        for platform_id, platform in snapshot.platforms.items():
            if platform_id in self._workers or not _deliverable(platform):
                continue
            if await self._queue.acquire(platform_id, self.consumer, LEASE_SECONDS):
                task = asyncio.create_task(self._serve(platform_id), name=f"deliver-{platform_id}")
                self._workers[platform_id] = task
                task.add_done_callback(self._forget_worker)

    def _forget_worker(self, task: asyncio.Task[None]) -> None:
        for platform_id, worker in list(self._workers.items()):
            if worker is task:
                del self._workers[platform_id]

    async def _serve(self, platform_id: str) -> None:
        """Deliver one platform's queue while this process holds its lease."""
        lost = asyncio.Event()
        renewer = asyncio.create_task(self._keep_lease(platform_id, lost))
        try:
            pending = await self._queue.claim(platform_id, self.consumer)
            newest = await self._queue.newest(platform_id, pending)
            while not lost.is_set():
                platform = await self._platform(platform_id)
                if platform is None or not _deliverable(platform):
                    return
                if not pending:
                    pending = await self._queue.read(
                        platform_id, self.consumer, count=64, block_ms=READ_BLOCK_MS
                    )
                    if not pending:
                        await self._keepalive(platform)
                        continue
                    # One read of the newest full states for the whole batch, not one a message.
                    newest = await self._queue.newest(platform_id, pending)
                entry_id, message = pending.pop(0)
                moot = later(newest.get(message.object), entry_id)
                await self._deliver(platform_id, entry_id, message, lost, moot)
        except HubError as e:
            log.warning("delivery to %s stopped: %s", platform_id, e.message)
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            with contextlib.suppress(HubError):
                await self._queue.release(platform_id, self.consumer)

    async def _keep_lease(self, platform_id: str, lost: asyncio.Event) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                held = await self._queue.renew(platform_id, self.consumer, LEASE_SECONDS)
            except HubError:
                held = False
            if not held:
                lost.set()
                return

    async def _platform(self, platform_id: str) -> Platform | None:
        return (await self._cache.current()).platforms.get(platform_id)

    async def _deliver(
        self, platform_id: str, entry_id: str, message: Message, lost: asyncio.Event, moot: bool
    ) -> None:
        """Send one message until it is delivered, moot, refused for good or expired.

        ``moot``: a newer full state of the object was queued when the batch was read; after a
        failed attempt that is asked again (a newer one may have come meanwhile)."""
        attempts, last_error = 0, "never tried"
        while not lost.is_set():
            if moot or (attempts and await self._queue.superseded(platform_id, entry_id, message)):
                await self._queue.done(platform_id, entry_id, message)
                metrics.DELIVERIES.labels(platform_id, "superseded").inc()
                return
            age = time.time() - message.enqueued_at
            if age >= self._settings.message_ttl:
                reason = f"expired after {self._settings.message_ttl:g} s; last error: {last_error}"
                await self._queue.park(platform_id, entry_id, message, reason, attempts)
                metrics.DELIVERIES.labels(platform_id, "parked").inc()
                return
            platform = await self._platform(platform_id)
            if platform is None or not _deliverable(platform):
                return  # suspended or removed meanwhile: the message waits (or expires)
            try:
                if platform.status == OFFLINE:
                    await self._probe(platform)
                    await self._set_status(platform_id, CONNECTED)
                attempts += 1
                await self._send(platform, message)
            except Permanent as e:
                await self._queue.park(platform_id, entry_id, message, str(e), attempts)
                metrics.DELIVERIES.labels(platform_id, "parked").inc()
                return
            except HubError as e:
                last_error = e.message
                metrics.DELIVERIES.labels(platform_id, "retried").inc()
                await self._failed(platform_id, attempts)
                delay = _backoff(attempts, self._settings.retry_base, self._settings.retry_max)
                remaining = self._settings.message_ttl - (time.time() - message.enqueued_at)
                await asyncio.sleep(max(0.0, min(delay, remaining)))
                continue
            self._failures[platform_id] = 0
            await self._queue.done(platform_id, entry_id, message)
            metrics.DELIVERIES.labels(platform_id, "delivered").inc()
            return

    async def _send(self, platform: Platform, message: Message) -> None:
        url = next(
            (
                e.url
                for e in platform.endpoints
                if e.identifier == message.module and (e.role or "") == message.interface
            ),
            None,
        )
        if url is None:
            raise Permanent(f"the platform has no {message.module} {message.interface} endpoint")
        target = join(url, message.path) + (f"?{message.query}" if message.query else "")
        headers = {h.CORRELATION_ID: message.correlation_id}
        if message.sender is not None:
            headers[h.FROM_COUNTRY_CODE], headers[h.FROM_PARTY_ID] = message.sender
        if message.receiver is not None:
            headers[h.TO_COUNTRY_CODE], headers[h.TO_PARTY_ID] = message.receiver
        token = (await self._cache.current()).outbound.get(platform.id)
        if token is None:
            raise Permanent("the hub holds no token for this platform")
        response = await self._peers.request(
            message.method,
            target,
            token=token,
            base64_encoded=platform.sends_base64,
            body=message.content,
            headers=headers,
        )
        _judge(response)

    async def _probe(self, platform: Platform) -> None:
        """GET the platform's versions: it answers, so it is back (or still there)."""
        token = (await self._cache.current()).outbound.get(platform.id)
        if platform.platform_versions_url is None or token is None:
            raise PeerError("nothing to probe")
        response = await self._peers.request(
            "GET",
            platform.platform_versions_url,
            token=token,
            base64_encoded=platform.sends_base64,
            timeout=self._settings.handshake_timeout,
        )
        if not 200 <= response.status < 300:
            raise PeerError(f"versions answered HTTP {response.status}")

    async def _keepalive(self, platform: Platform) -> None:
        """HubClientInfo: GET the versions of a platform not heard from for a while."""
        if platform.status != CONNECTED:
            return
        seen = self._seen.get(platform.id, 0.0)
        if time.monotonic() - seen < self._settings.keepalive_interval:
            return
        last = await self._store.last_seen_epoch(platform.id)
        if last is not None and time.time() - last < self._settings.keepalive_interval:
            self._seen[platform.id] = time.monotonic() - (time.time() - last)
            return
        try:
            await self._probe(platform)
        except HubError as e:
            log.info("keep-alive of %s failed: %s", platform.id, e.message)
            await self._failed(platform.id, 1)
            return
        self._seen[platform.id] = time.monotonic()
        self._failures[platform.id] = 0

    async def _failed(self, platform_id: str, attempts: int) -> None:
        count = self._failures.get(platform_id, 0) + 1
        self._failures[platform_id] = count
        if count >= self._settings.offline_after:
            await self._set_status(platform_id, OFFLINE)

    async def _set_status(self, platform_id: str, status: str) -> None:
        platform = await self._store.get(platform_id)
        if platform is None or platform.status == status or not _deliverable(platform):
            return
        log.warning("platform %s (%s) is now %s", platform_id, platform.name, status)
        platform.status = status
        await self._store.save(platform)


def _deliverable(platform: Platform) -> bool:
    return platform.registered and not platform.deleted and platform.status in (CONNECTED, OFFLINE)


def _judge(response: PeerResponse) -> None:
    """Raise unless the receiver took the message: 4xx and OCPI 2xxx are for good, anything
    else (5xx, 3xxx, no envelope) may pass with a retry."""
    if 400 <= response.status < 500 and response.status not in (408, 429):
        raise Permanent(f"refused with HTTP {response.status}: {response.body[:200]!r}")
    try:
        envelope = _envelope.decode(response.body)
    except msgspec.DecodeError as e:
        raise PeerError(f"HTTP {response.status} without an OCPI envelope") from e
    if 2000 <= envelope.status_code < 3000:
        raise Permanent(f"refused with OCPI {envelope.status_code}: {envelope.status_message}")
    if response.status >= 300 or envelope.status_code != SUCCESS:
        raise PeerError(f"HTTP {response.status}, OCPI {envelope.status_code}")


def _backoff(attempt: int, base: float, ceiling: float) -> float:
    """Exponential backoff with full jitter: a crowd of retries does not come back at once."""
    return random.uniform(0, min(ceiling, base * 2 ** min(attempt, 30)))
