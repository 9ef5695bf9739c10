"""What the holder of a platform reads from its queue, in order: what earlier holders left
pending (claimed: a process that died loses nothing), what it left pending itself, then new
entries; for the platforms taken together, in one round trip (``Reader.batches``).

An entry that cannot be decoded (not JSON, not a message, no field ``m``; written by hand or by
a broken release) can never be sent: it is parked at once as a dead letter that keeps its raw
bytes and the reason, and the rest of the queue is delivered.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from hub import metrics
from hub.delivery.messages import GROUP, Message, decoded, entries_of, raw_of
from hub.errors import HubError, StoreUnavailableError
from hub.store import keys
from hub.store.connection import RedisClient, call, clustered, text

log = logging.getLogger("hub.delivery")

# The stream and its group, so that a platform with nothing queued yet can be read; also the
# group of a stream that exists without one (written by something else than the queue).
_CREATE = """
local made = redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
if type(made) == 'table' and made.err and not string.find(made.err, 'BUSYGROUP') then
  return made
end
return 1
"""


@dataclass(frozen=True)
class Wanted:
    """A platform whose batch ``Reader.batches`` reads."""

    platform_id: str
    pending: bool  # what this consumer left pending comes first (False: it knows none is)
    claim: bool  # what earlier holders left pending is taken over first


class Reader:
    def __init__(
        self, redis: RedisClient, park_raw: Callable[[str, str, bytes, str], Awaitable[None]]
    ) -> None:
        """``park_raw(platform id, entry id, raw bytes, reason)``: parks an undecodable entry."""
        self._redis = redis
        self._create = redis.register_script(_CREATE)
        self._park_raw = park_raw

    async def claim(self, platform_id: str, consumer: str) -> None:
        """Take over what earlier holders left pending: it is sent before anything new."""
        stream = keys.queue(platform_id)
        start = "0-0"
        for _ in range(10_000):  # bounded: 100 entries each
            try:
                answer = await call(
                    self._redis.xautoclaim(stream, GROUP, consumer, 0, start, count=100)
                )
            except StoreUnavailableError as e:
                if "NOGROUP" not in e.message:
                    raise
                return  # no group: nothing was ever read, so nothing is pending
            start = text(answer[0])
            if start == "0-0":
                return

    async def batch(
        self, platform_id: str, consumer: str, count: int, *, pending: bool = True
    ) -> tuple[list[tuple[str, Message]], bool]:
        """What ``consumer`` left pending (unless ``pending`` is false: it knows it left
        nothing), then up to ``count`` new entries, in order (one round trip); and whether the
        new ones filled ``count`` (more may wait)."""
        stream = keys.queue(platform_id)
        for _ in range(2):
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    if pending:
                        pipe.xreadgroup(GROUP, consumer, {stream: "0"}, count=count)
                    pipe.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
                    found = await call(pipe.execute())
                    left, new = (found[0], found[1]) if pending else ([], found[0])
                break
            except StoreUnavailableError as e:
                if "NOGROUP" not in e.message:
                    raise
                # A stream written by something else than put(), or none at all.
                await call(self._create(keys=[stream], args=[GROUP]))
        else:
            return [], False
        return await self._chosen(platform_id, left, new, count)

    async def batches(
        self, consumer: str, wanted: list[Wanted], count: int
    ) -> list[tuple[list[tuple[str, Message]], bool] | HubError]:
        """``batch`` for many platforms in one round trip (more only for a platform whose queue
        has no group yet, or whose earlier holders left more than ``count`` pending): for each,
        its batch, or the error that kept it from being read. A platform ``claim``ed takes over
        what earlier holders left pending first (up to ``count`` in the same round trip)."""
        # On one Redis (not a cluster: there each queue is in a slot of its own), the new
        # entries of the platforms with nothing pending are read with one command for all: a
        # command costs redis-py as much as a few queues' entries.
        answers = await self._ask(consumer, wanted, count, together=not clustered(self._redis))
        if answers is None:  # a queue without a group failed the command for all
            answers = await self._ask(consumer, wanted, count, together=False)
            assert answers is not None
        found: list[tuple[list[tuple[str, Message]], bool] | HubError] = []
        for want, mine in zip(wanted, answers, strict=True):
            try:
                found.append(await self._read(consumer, want, mine, count))
            except HubError as e:
                found.append(e)
        return found

    async def _ask(
        self, consumer: str, wanted: list[Wanted], count: int, *, together: bool
    ) -> list[list[Any]] | None:
        """One pipeline of the reads of ``batches``: for each platform, the answers to its
        commands (errors as exceptions); None when the read of several queues ``together``
        failed for want of a group."""
        alone = [w for w in wanted if w.pending or w.claim or not together]
        fresh = [keys.queue(w.platform_id) for w in wanted if not (w.pending or w.claim)]
        async with self._redis.pipeline(transaction=False) as pipe:
            for want in alone:
                stream = keys.queue(want.platform_id)
                if want.claim:
                    pipe.xautoclaim(stream, GROUP, consumer, 0, "0-0", count=count)
                if want.pending or want.claim:
                    pipe.xreadgroup(GROUP, consumer, {stream: "0"}, count=count)
                pipe.xreadgroup(GROUP, consumer, {stream: ">"}, count=count)
            if together and fresh:
                pipe.xreadgroup(GROUP, consumer, dict.fromkeys(fresh, ">"), count=count)
            answers = await call(pipe.execute(raise_on_error=False))
        of: dict[str, list[Any]] = {}
        at = 0
        for want in alone:
            size = 1 + want.claim + (want.pending or want.claim)
            of[want.platform_id] = answers[at : at + size]
            at += size
        if together and fresh:
            read = answers[-1]
            if isinstance(read, Exception):
                if "NOGROUP" in str(read):
                    return None
                of |= {w.platform_id: [read] for w in wanted if w.platform_id not in of}
            else:
                # Only the queues that had new entries are in the answer.
                entries = {text(stream): found for stream, found in read or []}
                for want in wanted:
                    if want.platform_id not in of:
                        stream = keys.queue(want.platform_id)
                        of[want.platform_id] = [[(stream, entries.get(stream, []))]]
        return [of[want.platform_id] for want in wanted]

    async def _read(
        self, consumer: str, want: Wanted, answers: list[Any], count: int
    ) -> tuple[list[tuple[str, Message]], bool]:
        """One platform's part of ``batches``."""
        failed = [a for a in answers if isinstance(a, Exception)]
        if any("NOGROUP" in str(e) for e in failed):
            # No group: nothing was ever read, so nothing is pending; batch() makes the group.
            return await self.batch(want.platform_id, consumer, count)
        if failed:
            raise StoreUnavailableError(f"Redis: {failed[0]}")
        if want.claim and text(answers[0][0]) != "0-0":
            # More was pending than one claim takes: claimed all, the batch is read again.
            await self.claim(want.platform_id, consumer)
            return await self.batch(want.platform_id, consumer, count)
        left = answers[-2] if want.pending or want.claim else []
        return await self._chosen(want.platform_id, left, answers[-1], count)

    async def _chosen(
        self, platform_id: str, left: Any, new: Any, count: int
    ) -> tuple[list[tuple[str, Message]], bool]:
        """The batch of what was pending (``left``) and the ``new`` entries read after it, and
        whether more may wait."""
        if len(entries_of(left)) >= count:
            # More is pending than one batch holds: the new entries (pending now, after the
            # others) wait for a later batch, lest one overtake an older one of its object.
            return await self._messages(platform_id, left), True
        fresh = await self._messages(platform_id, new)
        return await self._messages(platform_id, left) + fresh, len(entries_of(new)) >= count

    async def _messages(self, platform_id: str, answer: Any) -> list[tuple[str, Message]]:
        stream = keys.queue(platform_id)
        found = []
        for entry_id, fields in entries_of(answer):
            if not fields:  # deleted meanwhile (already delivered)
                await call(self._redis.xack(stream, GROUP, entry_id))
                continue
            message = decoded(fields)
            if isinstance(message, Message):
                found.append((text(entry_id), message))
                continue
            log.warning(
                "queue entry %s of platform %s parked: %s", text(entry_id), platform_id, message
            )
            await self._park_raw(platform_id, text(entry_id), raw_of(fields), message)
            metrics.DELIVERIES.labels(platform_id, "parked").inc()
        return found
