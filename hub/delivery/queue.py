"""The durable queues: one Redis Stream per receiving platform, read through a consumer group.

Guarantees (architecture, "Delivery guarantees"): a message is in Redis before the sender is
answered; it stays pending in the consumer group until it was delivered or parked, so a process
that dies mid-delivery loses nothing (the next holder claims its pending entries); one process
at a time holds a platform (``hub.delivery.schedule``) and sends its queue, one object after the
other, so a PATCH never overtakes the PUT before it; a newer full state of an object makes older
queued messages of that object moot (they are skipped, not sent: coalescing).

What the holder reads is ``hub.delivery.reading``'s; here: queueing, acknowledging, parking,
and the operator's view.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from hub.delivery.messages import (
    GROUP,
    DeadLetter,
    Message,
    QueueStats,
    decoded,
    encode,
    letter,
)
from hub.delivery.reading import Reader
from hub.delivery.schedule import Schedule
from hub.errors import ConflictError, HubError, StoreUnavailableError
from hub.store import keys
from hub.store.connection import RedisClient, ScriptRun, call, clustered, run_scripts, text

log = logging.getLogger("hub.delivery")

# XADD and remember the newest full state of the object, atomically (one slot: the receiver's).
_ENQUEUE = """
if ARGV[5] ~= '' then
  -- A broadcast push (ARGV[5]: its record's id): pushes reach a queue in the order recorded,
  -- so one not after the last queued here is a repeat (or a late write of a former leader).
  local last = redis.call('GET', KEYS[3])
  if last then
    local lms, lseq = string.match(last, '(%d+)-(%d+)')
    local pms, pseq = string.match(ARGV[5], '(%d+)-(%d+)')
    lms, lseq, pms, pseq = tonumber(lms), tonumber(lseq), tonumber(pms), tonumber(pseq)
    if pms < lms or (pms == lms and pseq <= lseq) then return '' end
  end
  redis.call('SET', KEYS[3], ARGV[5])
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[4], '0', 'MKSTREAM')
end
local id = redis.call('XADD', KEYS[1], '*', 'm', ARGV[1])
if ARGV[3] == '1' then redis.call('HSET', KEYS[2], ARGV[2], id) end
return id
"""
# Acknowledge and delete an entry; forget it as the newest state if it still is.
_DONE = """
redis.call('XACK', KEYS[1], ARGV[3], ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then
  redis.call('HDEL', KEYS[2], ARGV[2])
end
return 1
"""
# Park an entry: add the dead letter, then acknowledge, delete and forget it as _DONE does; in
# one script, so that a crash cannot leave the letter without the entry gone or the other way.
_PARK = (
    """
redis.call('XADD', KEYS[3], '*', ARGV[4], ARGV[5], 'reason', ARGV[6], 'attempts', ARGV[7],
  'parked_at', ARGV[8])
"""
    + _DONE
)
# _DONE for each (ARGV[2i], ARGV[2i+1]) = (entry id, object or '') of a batch; group: ARGV[1].
_DONE_MANY = """
for i = 2, #ARGV, 2 do
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[i])
  redis.call('XDEL', KEYS[1], ARGV[i])
  if ARGV[i + 1] ~= '' and redis.call('HGET', KEYS[2], ARGV[i + 1]) == ARGV[i] then
    redis.call('HDEL', KEYS[2], ARGV[i + 1])
  end
end
return 1
"""
# _DONE_MANY for several platforms in one script, on one Redis (on a cluster their queues are
# in slots of their own): KEYS[2k-1], KEYS[2k]: platform k's queue and newest-state index;
# ARGV[1]: the group, then per platform its number of entries and their (entry id, object or
# '') pairs. Returns per platform '' or the error that stopped its acknowledgements: the other
# platforms' go on.
_DONE_ALL = """
local function done(queue, latest, from, to)
  for i = from, to, 2 do
    local answer = redis.pcall('XACK', queue, ARGV[1], ARGV[i])
    if type(answer) == 'table' and answer.err then return answer.err end
    answer = redis.pcall('XDEL', queue, ARGV[i])
    if type(answer) == 'table' and answer.err then return answer.err end
    if ARGV[i + 1] ~= '' then
      answer = redis.pcall('HGET', latest, ARGV[i + 1])
      if type(answer) == 'table' and answer.err then return answer.err end
      if answer == ARGV[i] then redis.pcall('HDEL', latest, ARGV[i + 1]) end
    end
  end
  return ''
end
local out, at = {}, 2
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[at])
  table.insert(out, done(KEYS[k], KEYS[k + 1], at + 1, at + 2 * n))
  at = at + 1 + 2 * n
end
return out
"""


@dataclass(frozen=True)
class LetGo:
    """A held platform let go (``Queue.settle``): what it delivered, and what comes next."""

    platform_id: str
    done: list[tuple[str, Message]]  # acknowledged and deleted
    again_in: float | None  # due again in so many seconds (None: only if queued to meanwhile)
    failures: int  # in a row
    holding: bool  # the hold is still this process's: it is finished (else only the acks)


class Queue:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._enqueue = redis.register_script(_ENQUEUE)
        self._park = redis.register_script(_PARK)
        self._done_many = redis.register_script(_DONE_MANY)
        self._done_all = redis.register_script(_DONE_ALL)
        self.schedule = Schedule(redis)
        # What the holder of a platform reads (hub.delivery.reading).
        reader = Reader(redis, self._park_raw)
        self.claim, self.batch, self.batches = reader.claim, reader.batch, reader.batches

    # --- writing ----------------------------------------------------------------------

    async def put(self, items: list[tuple[str, Message]], *, push: str = "") -> list[str]:
        """Queue each message for its platform and mark the platforms due; returns the entry
        ids. Two round trips, however many messages and platforms: the queues, then the
        schedule (in this order: a platform marked before its message is there could be found
        empty and let go).

        ``push``: the id of the broadcast push these messages carry (``hub.fanout``), queued in
        the order of those ids: a platform that already has this push or a later one does not
        get it again (id ``""`` for it)."""
        if not items:
            return []
        runs = []
        for platform_id, message in items:
            written = [keys.queue(platform_id), keys.queue_latest(platform_id)]
            written.append(keys.queue_push(platform_id))
            full = "1" if message.full_state else "0"
            args = [encode(message), message.object, full, GROUP, push]
            runs.append(ScriptRun(self._enqueue, written, args))
        ids = await run_scripts(self._redis, runs)
        if failed := [answer for answer in ids if isinstance(answer, Exception)]:
            raise StoreUnavailableError(f"Redis: {failed[0]}")
        await self.schedule.mark(platform_id for platform_id, _ in items)
        return [text(i) for i in ids]

    # --- the holder's (its reads: hub.delivery.reading) --------------------------------

    async def newest(self, platform_id: str, objects: list[str]) -> dict[str, str]:
        """For these objects: the id of the newest full state queued."""
        if not objects:
            return {}
        found = await call(self._redis.hmget(keys.queue_latest(platform_id), objects))
        return {o: text(i) for o, i in zip(objects, found, strict=True) if i is not None}

    async def done_many(self, platform_id: str, entries: list[tuple[str, Message]]) -> None:
        """``done`` for a batch, in one round trip."""
        if not entries:
            return
        await call(
            self._done_many(
                keys=[keys.queue(platform_id), keys.queue_latest(platform_id)],
                args=_done_args(entries),
            )
        )

    async def settle(self, consumer: str, let_gos: list[LetGo]) -> list[HubError | None]:
        """Acknowledge what each let-go delivered (one round trip for all), then finish the
        holds ``consumer`` still has (one more): the next holder must not find pending what
        was delivered. For each let-go: None, or why it failed. A platform whose
        acknowledgements failed keeps its hold until the hold expires: it is taken again then,
        and what is still pending is sent again (at least once)."""
        acks = [i for i, let_go in enumerate(let_gos) if let_go.done]
        failed = await self._acknowledge([let_gos[i] for i in acks])
        failed = {acks[at]: error for at, error in failed.items()}
        finishing = [i for i, let_go in enumerate(let_gos) if let_go.holding and i not in failed]
        if finishing:
            try:
                holds = [let_gos[i] for i in finishing]
                await self.schedule.finish(
                    consumer, [(h.platform_id, h.again_in, h.failures) for h in holds]
                )
            except HubError as e:
                failed |= dict.fromkeys(finishing, e)
        return [failed.get(i) for i in range(len(let_gos))]

    async def _acknowledge(self, let_gos: list[LetGo]) -> dict[int, HubError]:
        """What the let-gos delivered, acknowledged in one round trip; the errors, by the
        index of the let-go that met them."""
        if not let_gos:
            return {}
        if clustered(self._redis):
            answers = await run_scripts(
                self._redis,
                [
                    ScriptRun(
                        self._done_many,
                        [keys.queue(g.platform_id), keys.queue_latest(g.platform_id)],
                        _done_args(g.done),
                    )
                    for g in let_gos
                ],
            )
            return {
                i: StoreUnavailableError(f"Redis: {answer}")
                for i, answer in enumerate(answers)
                if isinstance(answer, Exception)
            }
        streams: list[str] = []
        args: list[str | int] = [GROUP]
        for g in let_gos:
            streams += [keys.queue(g.platform_id), keys.queue_latest(g.platform_id)]
            args += [len(g.done), *_pairs(g.done)]
        answers = await call(self._done_all(keys=streams, args=args))
        return {
            i: StoreUnavailableError(f"Redis: {text(answer)}")
            for i, answer in enumerate(answers)
            if answer
        }

    async def park(
        self, platform_id: str, entry_id: str, message: Message, reason: str, attempts: int
    ) -> None:
        """Move a message to the platform's dead letters, with the reason."""
        latest = message.object if message.full_state else ""
        await self._park_entry(
            platform_id, entry_id, latest, b"m", encode(message), reason, attempts
        )

    async def _park_raw(self, platform_id: str, entry_id: str, raw: bytes, reason: str) -> None:
        """Park an entry that holds no message (it cannot be decoded), with its raw bytes."""
        await self._park_entry(platform_id, entry_id, "", b"raw", raw, reason, 0)

    async def _park_entry(
        self,
        platform_id: str,
        entry_id: str,
        latest: str,
        field: bytes,
        value: bytes,
        reason: str,
        attempts: int,
    ) -> None:
        await call(
            self._park(
                keys=[
                    keys.queue(platform_id),
                    keys.queue_latest(platform_id),
                    keys.dead_letters(platform_id),
                ],
                args=[entry_id, latest, GROUP, field, value, reason, attempts, str(time.time())],
            )
        )
        await call(self._redis.sadd(keys.delivery_parked(), platform_id))

    # --- operator's view ----------------------------------------------------------------

    async def stats(self, platform_id: str) -> QueueStats:
        return (await self.stats_of([platform_id]))[platform_id]

    async def stats_of(self, platform_ids: list[str]) -> dict[str, QueueStats]:
        """Each platform's queue and dead letters, in one round trip for all of them."""
        if not platform_ids:
            return {}
        async with self._redis.pipeline(transaction=False) as pipe:
            for platform_id in platform_ids:
                pipe.xlen(keys.queue(platform_id))
                pipe.xrange(keys.queue(platform_id), count=1)
                pipe.xlen(keys.dead_letters(platform_id))
            found = await call(pipe.execute())
        now, stats = time.time(), {}
        for i, platform_id in enumerate(platform_ids):
            depth, first, parked = found[3 * i : 3 * i + 3]
            oldest = None
            if first:
                oldest = max(0.0, now - int(text(first[0][0]).split("-")[0]) / 1000)
            stats[platform_id] = QueueStats(depth=depth, oldest_age=oldest, dead_letters=parked)
        return stats

    async def overview(self, platforms: list[tuple[str, bool]]) -> dict[str, QueueStats]:
        """``stats_of`` for (platform id, deliverable) pairs, reading only the queues that may
        hold something (``Schedule.busy``), those with dead letters, and those of platforms
        that are not delivered now (their queues wait, unscheduled); every other queue is
        empty. At 10,000 platforms, reading all of them took seconds."""
        parked = await call(self._redis.smembers(keys.delivery_parked()))
        wanted = await self.schedule.busy() | {text(p) for p in parked}
        read = [i for i, deliverable in platforms if i in wanted or not deliverable]
        found = await self.stats_of(read)
        empty = QueueStats(depth=0, oldest_age=None, dead_letters=0)
        return {i: found.get(i, empty) for i, _ in platforms}

    async def sweep(self, platform_ids: list[str]) -> int:
        """Mark due every one of these platforms whose queue holds something: a process that
        died between queueing and marking (or data from an older release) leaves no queue
        behind unseen; and every one with dead letters is listed as such (``overview``).
        Returns how many were marked."""
        waiting: list[str] = []
        parked: list[str] = []
        for start in range(0, len(platform_ids), 1000):
            chunk = platform_ids[start : start + 1000]
            async with self._redis.pipeline(transaction=False) as pipe:
                for platform_id in chunk:
                    pipe.xlen(keys.queue(platform_id))
                    pipe.xlen(keys.dead_letters(platform_id))
                lengths = await call(pipe.execute())
            waiting += [p for p, depth in zip(chunk, lengths[::2], strict=True) if depth]
            parked += [p for p, letters in zip(chunk, lengths[1::2], strict=True) if letters]
        if parked:
            await call(self._redis.sadd(keys.delivery_parked(), *parked))
        await self.schedule.mark(waiting)
        return len(waiting)

    async def dead_letters(self, platform_id: str, count: int = 1000) -> list[DeadLetter]:
        entries = await call(self._redis.xrange(keys.dead_letters(platform_id), count=count))
        return [letter(entry_id, fields or {}) for entry_id, fields in entries]

    async def redrive(self, platform_id: str, ids: list[str] | None = None) -> tuple[int, int]:
        """Queue parked messages again (as new messages, with a fresh TTL); returns how many,
        and how many were skipped because they hold no message (an undecodable entry can
        never be delivered: it stays parked). Naming such a letter in ``ids`` is refused
        (ConflictError) and nothing is queued."""
        letters = await self.dead_letters(platform_id, count=100_000)
        chosen = [d for d in letters if ids is None or d.id in ids]
        hopeless = [d.id for d in chosen if d.message is None]
        if ids is not None and hopeless:
            raise ConflictError(
                f"dead letter {', '.join(hopeless)} of platform {platform_id} cannot be redriven: "
                "its queue entry could not be decoded, so it can never be delivered; "
                "nothing was redriven"
            )
        now = time.time()
        messages = [
            (d.id, msgspec.structs.replace(d.message, enqueued_at=now))
            for d in chosen
            if d.message is not None
        ]
        await self.put([(platform_id, message) for _, message in messages])
        if messages:
            await call(self._redis.xdel(keys.dead_letters(platform_id), *[i for i, _ in messages]))
        if not await call(self._redis.xlen(keys.dead_letters(platform_id))):
            await call(self._redis.srem(keys.delivery_parked(), platform_id))
        return len(messages), len(hopeless)

    async def park_where(
        self, platform_id: str, moot: Callable[[Message], bool], reason: str
    ) -> int:
        """Park every queued message of the platform for which ``moot`` is true, with
        ``reason``; returns how many. (A message being sent this moment is checked again by
        its deliverer before it is sent.)"""
        parked, start = 0, "-"
        while True:
            entries = await call(
                self._redis.xrange(keys.queue(platform_id), min=start, max="+", count=500)
            )
            for entry_id, fields in entries:
                message = decoded(fields or {})
                if isinstance(message, Message) and moot(message):
                    await self.park(platform_id, text(entry_id), message, reason, 0)
                    parked += 1
            if len(entries) < 500:
                return parked
            start = "(" + text(entries[-1][0])

    async def purge(self, platform_id: str) -> None:
        """Forget what waits for a platform (it was removed); its dead letters stay."""
        await call(
            self._redis.delete(
                keys.queue(platform_id),
                keys.queue_latest(platform_id),
                keys.queue_push(platform_id),
            )
        )
        await self.schedule.forget(platform_id)


def _done_args(entries: list[tuple[str, Message]]) -> list[str]:
    return [GROUP, *_pairs(entries)]


def _pairs(entries: list[tuple[str, Message]]) -> list[str]:
    """(entry id, object if it is a full state, else '') of each entry, in a row."""
    pairs: list[str] = []
    for entry_id, message in entries:
        pairs += [entry_id, message.object if message.full_state else ""]
    return pairs
