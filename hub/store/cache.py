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
        self._stale = True
        self._lock = asyncio.Lock()
        store.on_change(self.invalidate)

    def invalidate(self) -> None:
        self._stale = True

    async def current(self) -> Snapshot:
        snapshot = self._snapshot
        if (
            snapshot is not None
            and not self._stale
            and time.monotonic() - self._loaded_at < self._max_age
        ):
            return snapshot
        async with self._lock:
            if self._snapshot is None or self._stale or self._expired():
                # Clear the flag first: a change during the load marks it stale again.
                self._stale = False
                self._loaded_at = time.monotonic()
                try:
                    self._snapshot = await self._store.load_all()
                except BaseException:
                    self._stale = True
                    raise
            return self._snapshot

    def _expired(self) -> bool:
        return time.monotonic() - self._loaded_at >= self._max_age

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
