"""A platform's health: the backoff of its retries, probes of an OFFLINE platform, keep-alives.

One clock per platform, not one per message: every failed attempt at a platform (a push, a
probe of its versions while it is OFFLINE, a keep-alive) counts as a failure in a row, and the
next attempt of any kind waits ``backoff(failures)``. So an OFFLINE platform is probed with
exponential backoff up to ``retry_max`` however many messages wait for it (README: "Platform
health"), and a delivery that succeeds resets the count. The count is kept in Redis
(``hub.delivery.schedule``), so that every hub process follows the same clock.
"""

from __future__ import annotations

import logging
import random
import time

from hub.delivery.schedule import Schedule
from hub.delivery.sending import Sender
from hub.errors import HubError
from hub.records import CONNECTED, OFFLINE, Platform, deliverable
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.platforms import PlatformStore

log = logging.getLogger("hub.delivery")

# A generator of the hub's own: the global one is the host program's (the hub also runs inside
# other programs, through create_app), and drawing from it changes their random sequence.
_jitter = random.Random()


def backoff(failures: int, base: float, ceiling: float) -> float:
    """The delay after the ``failures``-th failure in a row: exponential from ``base`` up to
    ``ceiling``, with "equal jitter" (a random delay in [d/2, d]): a crowd of retries does not
    come back at once, and the lower bound keeps the number of attempts predictable."""
    delay = min(ceiling, base * 2 ** min(max(failures, 1) - 1, 30))
    return _jitter.uniform(delay / 2, delay)


class Health:
    """Probes and status moves of platforms (README: "Platform health")."""

    def __init__(
        self,
        settings: Settings,
        cache: PlatformCache,
        store: PlatformStore,
        schedule: Schedule,
        sender: Sender,
    ) -> None:
        self._settings = settings
        self._cache = cache
        self._store = store
        self._schedule = schedule
        self._sender = sender

    async def probe_offline(self, platform: Platform) -> bool:
        """Probe an OFFLINE platform: True, and CONNECTED again, when it answers."""
        try:
            await self._sender.probe(platform)
        except HubError as e:
            log.info("probe of OFFLINE platform %s failed: %s", platform.id, e.message)
            return False
        await self.set_status(platform.id, CONNECTED)
        return True

    async def keepalive(self, platform_id: str) -> None:
        """HubClientInfo: GET the versions of a CONNECTED platform not heard from for a while;
        when it does not answer, again after a backoff, and OFFLINE after ``offline_after``
        failures in a row."""
        interval = self._settings.keepalive_interval
        platform = (await self._cache.current()).platforms.get(platform_id)
        if platform is None or not deliverable(platform) or platform.status != CONNECTED:
            return  # it is kept alive again when it is CONNECTED again
        last = await self._store.last_seen_epoch(platform_id)
        if last is not None and time.time() - last < interval:
            await self._schedule.keepalive_in(platform_id, interval - (time.time() - last))
            return
        try:
            await self._sender.probe(platform)
        except HubError as e:
            log.info("keep-alive of %s failed: %s", platform_id, e.message)
            failures = await self._schedule.failed(platform_id)
            if failures >= self._settings.offline_after:
                await self.set_status(platform_id, OFFLINE)
            else:
                delay = backoff(failures, self._settings.retry_base, self._settings.retry_max)
                await self._schedule.keepalive_in(platform_id, delay)
            return
        await self._schedule.succeeded(platform_id)

    async def set_status(self, platform_id: str, status: str) -> None:
        """OFFLINE or CONNECTED again, compare-and-set: an operator's suspend or a removal made
        meanwhile wins (only a deliverable platform's health moves). The status listeners
        schedule what comes next (``Deliverer.status_changed``)."""
        moved = False

        def health(platform: Platform) -> Platform:
            nonlocal moved
            moved = deliverable(platform) and platform.status != status
            if moved:
                platform.status = status
            return platform

        try:
            platform = await self._store.update(platform_id, health)
        except HubError as e:
            log.warning("platform %s could not be made %s: %s", platform_id, status, e.message)
            return
        if platform is not None and moved:
            log.warning("platform %s (%s) is now %s", platform_id, platform.name, status)
