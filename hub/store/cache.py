"""The process-local copy of every platform, token hash and granted party.

Requests are authenticated and routed from this copy, so the hot path makes no Redis round
trip for them (architecture: "Rules that keep it simple"). Writes of this process mark it stale
at once; other processes announce theirs on a pub/sub channel. A copy older than ``max_age`` is
reloaded anyway, in case a message was lost while the subscription was down.
"""

from __future__ import annotations

import asyncio
import logging
import time

from hub.store import keys
from hub.store.connection import RedisClient
from hub.store.platforms import PlatformStore, Snapshot

log = logging.getLogger("hub.store")


class PlatformCache:
    def __init__(self, redis: RedisClient, store: PlatformStore, *, max_age: float = 30.0) -> None:
        self._redis = redis
        self._store = store
        self._max_age = max_age
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        # Every change bumps the version; a snapshot is fresh when it was loaded after the last
        # change began: a load that overlaps a change is not trusted.
        self._version = 0
        self._loaded_version = -1
        self._lock = asyncio.Lock()
        store.on_change(self.invalidate)

    def invalidate(self) -> None:
        self._version += 1

    def _fresh(self) -> bool:
        return (
            self._snapshot is not None
            and self._loaded_version == self._version
            and time.monotonic() - self._loaded_at < self._max_age
        )

    async def current(self) -> Snapshot:
        if self._fresh():
            assert self._snapshot is not None
            return self._snapshot
        async with self._lock:
            while not self._fresh():
                version, started = self._version, time.monotonic()
                snapshot = await self._store.load_all()
                self._snapshot, self._loaded_version, self._loaded_at = snapshot, version, started
            assert self._snapshot is not None
            return self._snapshot

    async def watch(self) -> None:
        """Listen for other processes' changes until cancelled."""
        while True:
            try:
                pubsub = self._redis.pubsub()
                try:
                    await pubsub.subscribe(keys.changes())
                    # Whatever happened while we were not listening: reload.
                    self.invalidate()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.invalidate()
                finally:
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            except Exception as e:
                # Never let the listener die: without it this process would only see other
                # processes' changes every max_age seconds.
                log.warning("change notifications interrupted (%r); retrying", e)
                self.invalidate()
                await asyncio.sleep(1.0)
