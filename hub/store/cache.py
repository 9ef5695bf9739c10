"""The process-local copy of every platform, token hash and granted party.

Requests are authenticated and routed from this copy, so the hot path makes no Redis round
trip for them (architecture: "Rules that keep it simple"). Writes of this process mark it stale
at once; other processes announce theirs on a pub/sub channel. A copy older than ``max_age`` is
reloaded anyway, in case a message was lost while the subscription was down.

A token the copy does not know may have been issued a moment ago by another process, whose
notification has not arrived yet, so it is looked up in Redis; but a flood of bad tokens must
not become a flood of Redis reads. So a token found unknown is remembered until the next change,
and the lookups of unknown tokens are capped per process (a token bucket): beyond the cap an
unknown token is refused without asking Redis.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from hub.store import keys
from hub.store.connection import RedisClient, listen
from hub.store.platforms import PlatformStore, Snapshot, TokenMatch, hash_token

log = logging.getLogger("hub.store")

# Lookups in Redis of tokens this process does not know: at most LOOKUP_BURST at once, then
# LOOKUP_RATE a second. A new platform's first calls need one each, and only until the change
# notification arrives (milliseconds); anything beyond is a client sending bad tokens.
LOOKUP_BURST = 20
LOOKUP_RATE = 5.0
# Unknown tokens remembered until the next change (the oldest are forgotten first).
MISSES_KEPT = 10_000


class TokenBucket:
    """``take()`` is true at most ``burst`` times at once, refilled at ``rate`` a second."""

    def __init__(
        self, burst: int, rate: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._burst = float(burst)
        self._rate = rate
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
        self._at = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class PlatformCache:
    def __init__(
        self,
        redis: RedisClient,
        store: PlatformStore,
        *,
        max_age: float = 30.0,
        lookups: TokenBucket | None = None,
    ) -> None:
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
        self._lookups = lookups or TokenBucket(LOOKUP_BURST, LOOKUP_RATE)
        # Unknown tokens (the hashes of a header's readings), forgotten at every change.
        self._misses: OrderedDict[tuple[str, ...], None] = OrderedDict()
        store.on_change(self.invalidate)

    def invalidate(self) -> None:
        self._version += 1
        self._misses.clear()

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

    async def identify(self, candidates: list[str]) -> tuple[TokenMatch | None, Snapshot]:
        """The first of ``candidates`` (readings of one Authorization header) that is a known
        token, and the snapshot that knows it; costs a Redis read only for a token this
        process does not know, was not told is unknown since the last change, and while the
        lookups' cap allows."""
        snapshot = await self.current()
        match = known(snapshot.tokens, candidates)
        if match is not None:
            return match, snapshot
        key = tuple(hash_token(c) for c in candidates)
        if key in self._misses or not self._lookups.take():
            return None, snapshot
        version = self._version
        match = await self._store.lookup_token(candidates)
        if match is None:
            # Unless a change came meanwhile: it may have issued this very token.
            if version == self._version:
                self._misses[key] = None
                if len(self._misses) > MISSES_KEPT:
                    self._misses.popitem(last=False)
            return None, snapshot
        # Issued by another process a moment ago: reload to know its platform.
        self.invalidate()
        return match, await self.current()

    async def watch(self) -> None:
        """Listen for other processes' changes until cancelled."""
        await listen(self._redis, keys.changes(), self.invalidate, "change notifications")


def known(tokens: Mapping[str, TokenMatch], candidates: list[str]) -> TokenMatch | None:
    """The first candidate that ``tokens`` (token hash -> match) knows, and which it was."""
    for index, candidate in enumerate(candidates):
        found = tokens.get(hash_token(candidate))
        if found is not None:
            return TokenMatch(found.platform_id, found.kind, index)
    return None
