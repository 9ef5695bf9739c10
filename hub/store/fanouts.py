"""Broadcast pushes waiting to be queued for their receivers (``hub.fanout``): a Redis Stream
in the ``{hub}`` slot, read in order by one process at a time (the leader, a key with a TTL).

A push is recorded here (one XADD) before its sender is answered, so it is durable whatever the
number of receivers; the leader queues it for each receiver and then deletes it. A leader that
dies mid-way leaves the record: the next leader queues it again (at least once).
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from hub.store import keys
from hub.store.connection import RedisClient, call, text

log = logging.getLogger("hub.fanout")

# Keep the lead if it is ours, for ARGV[2] ms more; or take it if nobody has it.
_LEAD = """
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] or not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
_RESIGN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Written(msgspec.Struct, array_like=True):
    """The push as receivers of one version get it (``keep``: those allowed the fields OCPI
    2.3.0 does not define); ``body`` JSON ``null``: none (a DELETE)."""

    version: str
    keep: bool
    method: str
    query: str
    body: msgspec.Raw


class Pushed(msgspec.Struct, kw_only=True):
    """A broadcast push, as recorded before its sender was answered."""

    module: str
    segments: list[str]
    caller_id: str
    owner: tuple[str, str]
    correlation_id: str
    enqueued_at: float
    written: list[Written]  # a version missing here cannot carry the push


_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(Pushed)


class Fanouts:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._lead = redis.register_script(_LEAD)
        self._resign = redis.register_script(_RESIGN)

    async def record(self, pushed: Pushed) -> None:
        await call(self._redis.xadd(keys.fanouts(), {"p": _encode.encode(pushed)}))

    async def lead(self, consumer: str, seconds: float) -> bool:
        """Be (or stay) the leader for ``seconds``; False when another process is."""
        return bool(
            await call(
                self._lead(keys=[keys.fanout_leader()], args=[consumer, int(seconds * 1000)])
            )
        )

    async def resign(self, consumer: str) -> None:
        await call(self._resign(keys=[keys.fanout_leader()], args=[consumer]))

    async def waiting(self, count: int, block_ms: int) -> list[tuple[str, Pushed | None]]:
        """The oldest recorded pushes (None: a record that cannot be read); when there are
        none, waits up to ``block_ms`` for one."""
        answer: Any = await call(
            self._redis.xread({keys.fanouts(): "0-0"}, count=count, block=block_ms)
        )
        found: list[tuple[str, Pushed | None]] = []
        for _, entries in answer or []:
            for entry_id, fields in entries:
                try:
                    found.append((text(entry_id), _decode.decode(fields[b"p"])))
                except (KeyError, msgspec.DecodeError) as e:
                    log.warning("broadcast record %s dropped: unreadable (%s)", text(entry_id), e)
                    found.append((text(entry_id), None))
        return found

    async def done(self, entry_id: str) -> None:
        await call(self._redis.xdel(keys.fanouts(), entry_id))

    async def backlog(self) -> int:
        return int(await call(self._redis.xlen(keys.fanouts())))
