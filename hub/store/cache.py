"""The process-local copy of every platform, token hash and granted party.

Requests are authenticated and routed from this copy, so the hot path makes no Redis round
trip for them (architecture: "Rules that keep it simple"). Every change names the platform it
changed: this process's writes mark that platform stale at once, other processes announce
theirs on a pub/sub channel, and only the platforms marked are read again, so that a change
costs the same with 10,000 platforms as with 10. A notification that names no platform (an
older hub's, or a resubscription after which anything may have changed) makes the whole copy
reloaded, and so does age: a copy older than ``max_age`` is reloaded anyway, in case a message
was lost while the subscription was down.

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
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

from hub.records import Party
from hub.store import keys
from hub.store.connection import RedisClient, listen
from hub.store.platforms import (
    PlatformPart,
    PlatformStore,
    Snapshot,
    TokenMatch,
    changed_platform,
    hash_token,
)

log = logging.getLogger("hub.store")

# Lookups in Redis of tokens this process does not know: at most LOOKUP_BURST at once, then
# LOOKUP_RATE a second. A new platform's first calls need one each, and only until the change
# notification arrives (milliseconds); anything beyond is a client sending bad tokens.
LOOKUP_BURST = 20
LOOKUP_RATE = 5.0
# Copies whose changed platforms are remembered (``changed_since``).
CHANGES_KEPT = 1000
# Unknown tokens remembered until the next change (the oldest are forgotten first).
MISSES_KEPT = 10_000
# Seconds after which the whole copy is read again even though no change was heard of: only a
# safety net for a notification lost while the subscription was down (it is subscribed again at
# once, and that reloads everything too), so rarely, as it reads every platform.
FULL_RELOAD_AFTER = 300.0


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


K = TypeVar("K")
V = TypeVar("V")


class _Written(Generic[K, V]):
    """A dict that is copied at its first change, and only if it changes: copying all of a
    snapshot's dicts at every change would cost in proportion to the number of platforms."""

    def __init__(self, original: dict[K, V]) -> None:
        self.result = original
        self._copied = False

    def get(self, key: K) -> V | None:
        return self.result.get(key)

    def put(self, key: K, value: V | None) -> None:
        """Set ``key`` to ``value``; ``None``: remove it."""
        if value is None:
            if key in self.result:
                del self._own()[key]
        elif key not in self.result or self.result[key] != value:
            self._own()[key] = value

    def drop(self, key: K) -> None:
        self.put(key, None)

    def _own(self) -> dict[K, V]:
        if not self._copied:
            self.result, self._copied = dict(self.result), True
        return self.result


class PlatformCache:
    def __init__(
        self,
        redis: RedisClient,
        store: PlatformStore,
        *,
        max_age: float = FULL_RELOAD_AFTER,
        lookups: TokenBucket | None = None,
    ) -> None:
        self._redis = redis
        self._store = store
        self._max_age = max_age
        self._snapshot: Snapshot | None = None
        self._loaded_at = 0.0
        # What changed since the snapshot was made: these platforms, or (``_everything``)
        # anything. A load takes the marks it answers before it reads, so that a change during
        # the load marks again and is read again.
        self._everything = True
        self._changed: set[str] = set()
        # A load under way: the marks it took are not in the snapshot yet, so nobody may take
        # the snapshot for fresh until it is done (a request must see its own writes).
        self._loading = False
        # Bumped at every change: a token lookup that overlaps a change is not trusted.
        self._version = 0
        # Which token hashes and granted parties the snapshot holds for each platform, so that
        # a change of one platform finds what to drop without going through all of them.
        self._tokens_of: dict[str, set[str]] = {}
        self._parties_of: dict[str, set[Party]] = {}
        self._lock = asyncio.Lock()
        # The platforms each copy changed from the one before (version -> ids), for those who
        # derive something from the copy and want to redo only what changed; a full reading
        # starts the record over.
        self._log: deque[tuple[int, frozenset[str]]] = deque(maxlen=CHANGES_KEPT)
        self._lookups = lookups or TokenBucket(LOOKUP_BURST, LOOKUP_RATE)
        # Unknown tokens (the hashes of a header's readings), forgotten at every change.
        self._misses: OrderedDict[tuple[str, ...], None] = OrderedDict()
        store.on_change(self.invalidate)

    def invalidate(self, platform_id: str | None = None) -> None:
        """Platform ``platform_id`` changed (its record, tokens or roles); ``None``: anything
        may have changed."""
        self._version += 1
        if platform_id is None:
            self._everything = True
        else:
            self._changed.add(platform_id)
        # Any change may have issued a token that was unknown a moment ago.
        self._misses.clear()

    def heard(self, message: bytes | str | None) -> None:
        """A message on the changes channel (``None``: subscribed again)."""
        self.invalidate(None if message is None else changed_platform(message))

    def _aged(self) -> bool:
        return time.monotonic() - self._loaded_at >= self._max_age

    def _fresh(self) -> bool:
        return (
            self._snapshot is not None
            and not self._loading
            and not self._everything
            and not self._changed
            and not self._aged()
        )

    async def current(self) -> Snapshot:
        if self._fresh():
            assert self._snapshot is not None
            return self._snapshot
        async with self._lock:
            while not self._fresh():
                self._loading = True
                try:
                    if self._snapshot is None or self._everything or self._aged():
                        await self._reload_all()
                    else:
                        await self._reload(self._changed)
                finally:
                    self._loading = False
            assert self._snapshot is not None
            return self._snapshot

    async def _reload_all(self) -> None:
        self._everything, self._changed = False, set()
        started = time.monotonic()
        try:
            snapshot = await self._store.load_all()
        except BaseException:
            self._everything = True
            raise
        self._tokens_of, self._parties_of = {}, {}
        snapshot.version = self._next_version()
        self._log.clear()
        for digest, match in snapshot.tokens.items():
            self._tokens_of.setdefault(match.platform_id, set()).add(digest)
        for party, owner in snapshot.granted.items():
            self._parties_of.setdefault(owner, set()).add(party)
        self._snapshot, self._loaded_at = snapshot, started

    async def _reload(self, ids: set[str]) -> None:
        """Read the platforms ``ids`` again; the others stay as they are."""
        self._changed = set()
        try:
            parts = await self._store.load_platforms(ids)
        except BaseException:
            self._changed |= ids
            raise
        assert self._snapshot is not None
        patched = self._patched(self._snapshot, parts)
        patched.version = self._next_version()
        self._snapshot = patched
        self._log.append((patched.version, frozenset(parts)))

    def _next_version(self) -> int:
        return (0 if self._snapshot is None else self._snapshot.version) + 1

    def changed_since(self, version: int) -> set[str] | None:
        """The platforms that changed from copy ``version`` to the current one; None when that
        is not known (a full reading came between, or it is too old)."""
        if self._snapshot is None or not self._log or self._log[0][0] > version + 1:
            return None if self._snapshot is None or version != self._snapshot.version else set()
        return {i for v, ids in self._log if v > version for i in ids}

    def _patched(self, old: Snapshot, parts: Mapping[str, PlatformPart]) -> Snapshot:
        """``old`` with these platforms as read. Requests may hold ``old`` across awaits, so it
        is never changed: a dict that changes is copied first (one that does not is shared)."""
        platforms, outbound = _Written(old.platforms), _Written(old.outbound)
        tokens, granted = _Written(old.tokens), _Written(old.granted)
        at = _Written(old.granted_at)
        for platform_id, part in parts.items():
            read = PlatformPart() if part.platform is None else part
            for digest in self._tokens_of.pop(platform_id, set()) - read.tokens.keys():
                found = tokens.get(digest)
                if found is not None and found.platform_id == platform_id:
                    tokens.drop(digest)
            for party in self._parties_of.pop(platform_id, set()) - set(read.granted):
                if granted.get(party) == platform_id:
                    granted.drop(party)
                    at.put(party.key, (at.get(party.key) or frozenset()) - {party} or None)
            platforms.put(platform_id, read.platform)
            outbound.put(platform_id, read.outbound)
            if read.platform is None:
                continue
            for digest, match in read.tokens.items():
                previous = tokens.get(digest)
                if previous is not None and previous.platform_id != platform_id:
                    self._tokens_of.get(previous.platform_id, set()).discard(digest)
                tokens.put(digest, match)
            self._tokens_of[platform_id] = set(read.tokens)
            for party in read.granted:
                owner = granted.get(party)
                if owner is not None and owner != platform_id:
                    self._parties_of.get(owner, set()).discard(party)
                granted.put(party, platform_id)
                at.put(party.key, (at.get(party.key) or frozenset()) | {party})
            self._parties_of[platform_id] = set(read.granted)
        return Snapshot(platforms.result, outbound.result, tokens.result, granted.result, at.result)

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
        # Issued by another process a moment ago: read its platform again.
        self.invalidate(match.platform_id)
        return match, await self.current()

    async def watch(self) -> None:
        """Listen for other processes' changes until cancelled."""
        await listen(self._redis, keys.changes(), self.heard, "change notifications")


def known(tokens: Mapping[str, TokenMatch], candidates: list[str]) -> TokenMatch | None:
    """The first candidate that ``tokens`` (token hash -> match) knows, and which it was."""
    for index, candidate in enumerate(candidates):
        found = tokens.get(hash_token(candidate))
        if found is not None:
            return TokenMatch(found.platform_id, found.kind, index)
    return None
