"""The delivery schedule: which platforms have something to do, and which process does it.

Only platforms with work cost anything (README: "Delivery at scale"). A platform is in the *due*
set while messages wait for it or while it is OFFLINE (its next probe), scored by when it may be
tried next; a process *takes* due platforms (one script for many), which holds them: their score
moves to when the hold expires, so that a process that dies lets go by itself, and the holder is
recorded. The holder renews its holds while it works and *finishes* each with what comes next:
nothing (it leaves the set), now (more is queued) or later (a retry after a backoff). A message
queued for a held platform marks it *dirty*, so that a holder which read its queue a moment
before does not leave it behind. Keep-alives are scheduled the same way in a set of their own.

Every script runs on the ``{hub}`` slot and reads the time from Redis, so hub processes on
machines whose clocks differ agree on what is due.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from hub.errors import StoreUnavailableError
from hub.store import keys
from hub.store.connection import LUA_NOW, RedisClient, ScriptRun, call, run_scripts, text

# Mark platforms due now (unless they wait for a retry: their backoff stands); a held one dirty.
_MARK = (
    LUA_NOW
    + """
for _, id in ipairs(ARGV) do
  if redis.call('HEXISTS', KEYS[2], id) == 1 then
    redis.call('SADD', KEYS[3], id)
  else
    redis.call('ZADD', KEYS[1], 'NX', now, id)
  end
end
return 1
"""
)
# Platform ARGV[1] is due in ARGV[2] ms, not sooner, even with messages queued (unless held).
_DEFER = (
    LUA_NOW
    + """
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
return 1
"""
)
# Take up to ARGV[3] due platforms for consumer ARGV[2], holding each for ARGV[1] ms. Returns
# [milliseconds until the next one is due, or -1 when none is], then per platform taken: its id,
# the consumer that held it last ('' if none) and its failures in a row.
_TAKE = (
    LUA_NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local out = {-1}
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id)
  redis.call('HSET', KEYS[2], id, ARGV[2])
  local last = redis.call('HGET', KEYS[3], id) or ''
  redis.call('HSET', KEYS[3], id, ARGV[2])
  table.insert(out, id)
  table.insert(out, last)
  table.insert(out, redis.call('HGET', KEYS[4], id) or '0')
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[1] = math.max(0, tonumber(first[2]) - now) end
return out
"""
)
# Extend the holds ARGV[3..] of consumer ARGV[2] by ARGV[1] ms; returns those another consumer
# holds now. One nobody holds was let go meanwhile (the renewal raced the let-go), or its hold
# expired and nobody took it yet: not lost (a later renewal tells if someone takes it).
_RENEW = (
    LUA_NOW
    + """
local lost = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local holder = redis.call('HGET', KEYS[2], id)
  if holder == ARGV[2] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), id)
  elseif holder then
    table.insert(lost, id)
  end
end
return lost
"""
)
# Consumer ARGV[1] is done with platforms: for each (ARGV[i], ARGV[i+1], ARGV[i+2]) from i = 2:
# platform ARGV[i] is due again in ARGV[i+1] ms ('' : only if it was queued to meanwhile), with
# ARGV[i+2] failures in a row. Returns per platform 1, or 0 when the consumer no longer held it.
_FINISH = (
    LUA_NOW
    + """
local out = {}
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) ~= ARGV[1] then
    table.insert(out, 0)
  else
    redis.call('HDEL', KEYS[2], id)
    local dirty = redis.call('SREM', KEYS[3], id)
    if ARGV[i + 2] == '0' then
      redis.call('HDEL', KEYS[4], id)
    else
      redis.call('HSET', KEYS[4], id, ARGV[i + 2])
    end
    if ARGV[i + 1] ~= '' then
      redis.call('ZADD', KEYS[1], now + tonumber(ARGV[i + 1]), id)
    elseif dirty == 1 then
      redis.call('ZADD', KEYS[1], now, id)
    else
      redis.call('ZREM', KEYS[1], id)
    end
    table.insert(out, 1)
  end
end
return out
"""
)
# Take up to ARGV[2] due keep-alives, each next due ARGV[1] ms from now (a process that dies
# while probing only delays the next one).
_KEEPALIVES = (
    LUA_NOW
    + """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), id) end
return ids
"""
)
# Keep-alive of ARGV[1] due in ARGV[2] ms; ARGV[3] == 'NX': only if none is scheduled.
_KEEPALIVE_AT = (
    LUA_NOW
    + """
if ARGV[3] == 'NX' then
  redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[2]), ARGV[1])
else
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
end
return 1
"""
)

_jitter = random.Random()


@dataclass(frozen=True)
class Held:
    """A platform taken by this process: who held it before, its failures in a row."""

    platform_id: str
    last_holder: str | None
    failures: int


@dataclass(frozen=True)
class Taken:
    held: list[Held]
    next_in: float | None  # seconds until the next platform is due (None: none waits)


def _count(value: bytes | str) -> int:
    """A failure count as stored; what is not a count (written by hand) is none."""
    try:
        return max(0, int(value))
    except ValueError:
        return 0


def _ms(seconds: float) -> int:
    return max(0, int(seconds * 1000))


class Schedule:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._mark = redis.register_script(_MARK)
        self._defer = redis.register_script(_DEFER)
        self._take = redis.register_script(_TAKE)
        self._renew = redis.register_script(_RENEW)
        self._finish = redis.register_script(_FINISH)
        self._keepalives = redis.register_script(_KEEPALIVES)
        self._keepalive_at = redis.register_script(_KEEPALIVE_AT)

    async def mark(self, platform_ids: Iterable[str]) -> None:
        """These platforms have something to do now (messages were queued for them)."""
        ids = sorted(set(platform_ids))
        for start in range(0, len(ids), 1000):
            await call(
                self._mark(
                    keys=[keys.delivery_due(), keys.delivery_holders(), keys.delivery_dirty()],
                    args=ids[start : start + 1000],
                )
            )

    async def defer(self, platform_id: str, seconds: float) -> None:
        """Nothing is sent to the platform for ``seconds`` (whatever is queued meanwhile)."""
        await call(
            self._defer(
                keys=[keys.delivery_due(), keys.delivery_holders()],
                args=[platform_id, _ms(seconds)],
            )
        )

    async def take(self, consumer: str, hold: float, count: int) -> Taken:
        """Up to ``count`` due platforms, held by ``consumer`` for ``hold`` seconds."""
        answer = await call(
            self._take(
                keys=[
                    keys.delivery_due(),
                    keys.delivery_holders(),
                    keys.delivery_last(),
                    keys.delivery_failures(),
                ],
                args=[_ms(hold), consumer, count],
            )
        )
        next_ms = int(answer[0])
        held = []
        for i in range(1, len(answer), 3):
            last = text(answer[i + 1])
            held.append(Held(text(answer[i]), last or None, _count(answer[i + 2])))
        return Taken(held, None if next_ms < 0 else next_ms / 1000)

    async def renew(self, consumer: str, hold: float, platform_ids: list[str]) -> set[str]:
        """Extend the holds; returns the platforms that another consumer holds now."""
        if not platform_ids:
            return set()
        lost = await call(
            self._renew(
                keys=[keys.delivery_due(), keys.delivery_holders()],
                args=[_ms(hold), consumer, *platform_ids],
            )
        )
        return {text(i) for i in lost}

    async def finish(self, consumer: str, platforms: list[tuple[str, float | None, int]]) -> None:
        """Let go of held platforms, in one round trip: each (id, due again in so many seconds
        (None: only if messages were queued meanwhile), failures in a row); one that
        ``consumer`` no longer holds is left alone."""
        args: list[str | int] = [consumer]
        for platform_id, again_in, failures in platforms:
            args += [platform_id, "" if again_in is None else _ms(again_in), failures]
        await call(
            self._finish(
                keys=[
                    keys.delivery_due(),
                    keys.delivery_holders(),
                    keys.delivery_dirty(),
                    keys.delivery_failures(),
                ],
                args=args,
            )
        )

    async def holders(self, platform_ids: list[str]) -> dict[str, str]:
        """Which process delivers each of these platforms now (those held by one)."""
        if not platform_ids:
            return {}
        found = await call(self._redis.hmget(keys.delivery_holders(), platform_ids))
        return {p: text(h) for p, h in zip(platform_ids, found, strict=True) if h is not None}

    async def holder(self, platform_id: str) -> str | None:
        return (await self.holders([platform_id])).get(platform_id)

    async def busy(self) -> set[str]:
        """The platforms that are due, wait for a retry or are held: every platform whose queue
        holds something is among them (``Queue.put`` marks it, a holder lets it go only when
        nothing is left, the sweep marks what a crash left unmarked). In proportion to those
        platforms, not to all of them."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zrange(keys.delivery_due(), 0, -1)
            pipe.hkeys(keys.delivery_holders())
            due, held = await call(pipe.execute())
        return {text(p) for p in due} | {text(p) for p in held}

    # --- keep-alives -----------------------------------------------------------------

    async def keepalives(self, interval: float, count: int) -> list[str]:
        """Up to ``count`` platforms whose keep-alive is due; each is next due ``interval``
        seconds from now unless rescheduled."""
        found = await call(
            self._keepalives(keys=[keys.keepalive_due()], args=[_ms(interval), count])
        )
        return [text(i) for i in found]

    async def keepalive_in(self, platform_id: str, seconds: float, *, spread: bool = False) -> None:
        """Schedule the platform's keep-alive ``seconds`` from now; ``spread``: only if none is
        scheduled, at a random point within ``seconds`` (a crowd of platforms seen for the
        first time is not probed all at once)."""
        delay = _jitter.uniform(0, seconds) if spread else seconds
        await call(
            self._keepalive_at(
                keys=[keys.keepalive_due()],
                args=[platform_id, _ms(delay), "NX" if spread else ""],
            )
        )

    async def keepalives_spread(self, platform_ids: list[str], interval: float) -> None:
        """``keepalive_in(..., spread=True)`` for many platforms, a thousand a round trip."""
        for start in range(0, len(platform_ids), 1000):
            runs = [
                ScriptRun(
                    self._keepalive_at,
                    [keys.keepalive_due()],
                    [platform_id, _ms(_jitter.uniform(0, interval)), "NX"],
                )
                for platform_id in platform_ids[start : start + 1000]
            ]
            answers = await run_scripts(self._redis, runs)
            if failed := [answer for answer in answers if isinstance(answer, Exception)]:
                raise StoreUnavailableError(f"Redis: {failed[0]}")

    async def failed(self, platform_id: str) -> int:
        """One more failure in a row of a platform not held (a keep-alive); how many now."""
        return int(await call(self._redis.hincrby(keys.delivery_failures(), platform_id, 1)))

    async def succeeded(self, platform_id: str) -> None:
        await call(self._redis.hdel(keys.delivery_failures(), platform_id))

    async def forget(self, platform_id: str) -> None:
        """The platform is gone: nothing is scheduled for it any more."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.delivery_due(), platform_id)
            pipe.srem(keys.delivery_dirty(), platform_id)
            pipe.hdel(keys.delivery_failures(), platform_id)
            pipe.hdel(keys.delivery_last(), platform_id)
            pipe.zrem(keys.keepalive_due(), platform_id)
            await call(pipe.execute())
