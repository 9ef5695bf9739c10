"""The durable queues: one Redis Stream per receiving platform, read through a consumer group.

Guarantees (architecture, "Delivery guarantees"): a message is in Redis before the sender is
answered; it stays pending in the consumer group until it was delivered or parked, so a process
that dies mid-delivery loses nothing (another claims its pending entries); one process at a time
holds a platform's lease and delivers its queue in order, so a PATCH never overtakes the PUT
before it; a newer full state of an object makes older queued messages of that object moot
(they are skipped, not sent: coalescing).
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from hub.store import keys
from hub.store.connection import RedisClient, call

GROUP = "delivery"

# XADD and remember the newest full state of the object, atomically (one slot: the receiver's).
_ENQUEUE = """
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
# The stream and its group, so that a platform with nothing queued yet can be waited on.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
end
return 1
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Message(msgspec.Struct, kw_only=True):
    """One call the hub owes a platform."""

    module: str
    interface: str
    method: str
    path: str  # below the receiver's endpoint URL
    query: str = ""
    body: msgspec.Raw = msgspec.Raw(b"null")  # the JSON body; null: none
    sender: tuple[str, str] | None = None  # OCPI-from; None for configuration modules
    receiver: tuple[str, str] | None = None  # OCPI-to
    object: str  # messages of one object are delivered in order; coalescing key
    full_state: bool  # a PUT: it makes older queued messages of the same object moot
    correlation_id: str
    enqueued_at: float

    @property
    def content(self) -> bytes | None:
        raw = bytes(self.body)
        return None if raw == b"null" else raw


class DeadLetter(msgspec.Struct, kw_only=True):
    id: str
    message: Message
    reason: str
    attempts: int
    parked_at: float


class QueueStats(msgspec.Struct, kw_only=True):
    depth: int
    oldest_age: float | None
    dead_letters: int


_encode = msgspec.json.Encoder()
_message = msgspec.json.Decoder(Message)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def later(a: str | None, b: str) -> bool:
    """Stream id ``a`` comes after ``b`` (ids compare as (milliseconds, sequence))."""
    if a is None:
        return False
    ams, aseq = a.split("-")
    bms, bseq = b.split("-")
    return (int(ams), int(aseq)) > (int(bms), int(bseq))


class Queue:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._enqueue = redis.register_script(_ENQUEUE)
        self._done = redis.register_script(_DONE)
        self._create = redis.register_script(_CREATE)
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    # --- writing ----------------------------------------------------------------------

    async def put(self, items: list[tuple[str, Message]]) -> list[str]:
        """Queue each message for its platform; returns the entry ids. One round trip."""
        if not items:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for platform_id, message in items:
                await self._enqueue(
                    keys=[keys.queue(platform_id), keys.queue_latest(platform_id)],
                    args=[
                        _encode.encode(message),
                        message.object,
                        "1" if message.full_state else "0",
                        GROUP,
                    ],
                    client=pipe,  # type: ignore[arg-type]
                )
            ids = await call(pipe.execute())
        return [_text(i) for i in ids]

    # --- reading (the lease holder only) ----------------------------------------------

    async def claim(self, platform_id: str, consumer: str) -> list[tuple[str, Message]]:
        """Take over what any earlier holder left pending, then return this consumer's
        pending entries in order: they come before anything new."""
        stream = keys.queue(platform_id)
        await call(self._create(keys=[stream], args=[GROUP]))
        start = "0-0"
        while True:
            answer = await call(
                self._redis.xautoclaim(stream, GROUP, consumer, 0, start, count=100)
            )
            start = _text(answer[0])
            if start == "0-0":
                break
        return await self._read(platform_id, consumer, "0", count=1000, block=None)

    async def read(
        self, platform_id: str, consumer: str, *, count: int, block_ms: int
    ) -> list[tuple[str, Message]]:
        return await self._read(platform_id, consumer, ">", count=count, block=block_ms)

    async def _read(
        self, platform_id: str, consumer: str, start: str, *, count: int, block: int | None
    ) -> list[tuple[str, Message]]:
        stream = keys.queue(platform_id)
        answer: Any = await call(
            self._redis.xreadgroup(GROUP, consumer, {stream: start}, count=count, block=block)
        )
        found = []
        for _, entries in answer or []:
            for entry_id, fields in entries:
                raw = fields.get(b"m") if fields else None
                if raw is None:  # deleted meanwhile (already delivered)
                    await call(self._redis.xack(stream, GROUP, entry_id))
                    continue
                found.append((_text(entry_id), _message.decode(raw)))
        return found

    async def newest(self, platform_id: str, entries: list[tuple[str, Message]]) -> dict[str, str]:
        """For the objects of these entries: the id of the newest full state queued."""
        objects = sorted({message.object for _, message in entries})
        if not objects:
            return {}
        found = await call(self._redis.hmget(keys.queue_latest(platform_id), objects))
        return {o: _text(i) for o, i in zip(objects, found, strict=True) if i is not None}

    async def superseded(self, platform_id: str, entry_id: str, message: Message) -> bool:
        """A newer full state of the same object is queued: this one need not be sent."""
        latest = await call(self._redis.hget(keys.queue_latest(platform_id), message.object))
        return latest is not None and later(_text(latest), entry_id)

    async def done(self, platform_id: str, entry_id: str, message: Message) -> None:
        await call(
            self._done(
                keys=[keys.queue(platform_id), keys.queue_latest(platform_id)],
                args=[entry_id, message.object if message.full_state else "", GROUP],
            )
        )

    async def park(
        self, platform_id: str, entry_id: str, message: Message, reason: str, attempts: int
    ) -> None:
        """Move a message to the platform's dead letters, with the reason."""
        letter = {
            "m": _encode.encode(message),
            "reason": reason,
            "attempts": str(attempts),
            "parked_at": str(time.time()),
        }
        await call(self._redis.xadd(keys.dead_letters(platform_id), letter))  # type: ignore[arg-type]
        await self.done(platform_id, entry_id, message)

    # --- operator's view ----------------------------------------------------------------

    async def stats(self, platform_id: str) -> QueueStats:
        stream, dead = keys.queue(platform_id), keys.dead_letters(platform_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(stream)
            pipe.xrange(stream, count=1)
            pipe.xlen(dead)
            depth, first, parked = await call(pipe.execute())
        oldest = None
        if first:
            oldest = max(0.0, time.time() - int(_text(first[0][0]).split("-")[0]) / 1000)
        return QueueStats(depth=depth, oldest_age=oldest, dead_letters=parked)

    async def dead_letters(self, platform_id: str, count: int = 1000) -> list[DeadLetter]:
        entries = await call(self._redis.xrange(keys.dead_letters(platform_id), count=count))
        return [
            DeadLetter(
                id=_text(entry_id),
                message=_message.decode(fields[b"m"]),
                reason=_text(fields[b"reason"]),
                attempts=int(fields[b"attempts"]),
                parked_at=float(fields[b"parked_at"]),
            )
            for entry_id, fields in entries
        ]

    async def redrive(self, platform_id: str, ids: list[str] | None = None) -> int:
        """Queue parked messages again (as new messages, with a fresh TTL)."""
        letters = await self.dead_letters(platform_id, count=100_000)
        chosen = [d for d in letters if ids is None or d.id in ids]
        now = time.time()
        await self.put(
            [(platform_id, msgspec.structs.replace(d.message, enqueued_at=now)) for d in chosen]
        )
        if chosen:
            await call(self._redis.xdel(keys.dead_letters(platform_id), *[d.id for d in chosen]))
        return len(chosen)

    async def purge(self, platform_id: str) -> None:
        """Forget what waits for a platform (it was removed); its dead letters stay."""
        await call(self._redis.delete(keys.queue(platform_id), keys.queue_latest(platform_id)))

    # --- the lease: one delivering process per platform --------------------------------

    async def acquire(self, platform_id: str, consumer: str, ttl: float) -> bool:
        key = keys.delivery_lease(platform_id)
        return bool(await call(self._redis.set(key, consumer, nx=True, px=int(ttl * 1000))))

    async def renew(self, platform_id: str, consumer: str, ttl: float) -> bool:
        key = keys.delivery_lease(platform_id)
        return bool(await call(self._renew(keys=[key], args=[consumer, int(ttl * 1000)])))

    async def release(self, platform_id: str, consumer: str) -> None:
        await call(self._release(keys=[keys.delivery_lease(platform_id)], args=[consumer]))

    async def holder(self, platform_id: str) -> str | None:
        found = await call(self._redis.get(keys.delivery_lease(platform_id)))
        return None if found is None else _text(found)
