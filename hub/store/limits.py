"""Rate limits that hold across every hub process: one GCRA state per (platform, module) in Redis.

The generic cell rate algorithm keeps one number per limit, the "theoretical arrival time" of
the next call; a call is allowed when it would not push that time more than the limit's period
ahead of now. Redis's own clock is used (``TIME``), so processes whose clocks differ still
share one budget. The state expires when it no longer matters.
"""

from __future__ import annotations

from redis.commands.core import AsyncScript

from hub.rates import Rate
from hub.store import keys
from hub.store.connection import RedisClient, call

# KEYS: the limit's key; ARGV: interval (seconds per call), period (seconds). Returns 0 when
# allowed, else the milliseconds until a call would be allowed.
_TAKE = """
local now = redis.call('TIME')
local t = tonumber(now[1]) + tonumber(now[2]) / 1000000
local interval, period = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < t then tat = t end
local next_tat = tat + interval
if next_tat - t > period then
  return math.ceil((next_tat - t - period) * 1000)
end
redis.call('SET', KEYS[1], tostring(next_tat), 'PX', math.ceil((next_tat - t) * 1000) + 1000)
return 0
"""


class RateLimits:
    def __init__(self, redis: RedisClient) -> None:
        self._take: AsyncScript = redis.register_script(_TAKE)

    async def take(self, platform_id: str, module: str, rate: Rate) -> float:
        """One call of ``platform_id`` to ``module`` under ``rate``: 0.0 when it may go on,
        else the seconds until one would be allowed."""
        wait_ms = await call(
            self._take(
                keys=[keys.rate_limit(platform_id, module)],
                args=[repr(rate.interval), str(rate.seconds)],
            )
        )
        return int(wait_ms) / 1000
