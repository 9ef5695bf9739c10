"""The status changes HubClientInfo still has to announce, kept in Redis until they are.

A change is *marked* in one script (a few commands, whatever the number of platforms), in the
request that made it; a background task in any hub process *takes* the due ones, queues their
pushes, and marks them *done*. Several changes of one platform before it is taken are one
announcement (of the status it has then). Taking pushes the announcement's due time forward by a
lease instead of removing it, so that one taken by a process that dies before it is done is
taken again when the lease runs out; done removes it only when no change was marked since it
was taken (otherwise it is due again at once). Times are Redis's own clock (``TIME``), so that
processes whose clocks differ agree on when a lease ends. Every key is in the ``{hub}`` slot, so
each script also runs on Redis Cluster.
"""

from __future__ import annotations

from dataclasses import dataclass

from hub.store import keys
from hub.store.connection import LUA_NOW, RedisClient, call, text

# KEYS: announcements, marks, listings, counter. ARGV: platform id, '1' when the change owes
# the platform the whole list. Due now, unless it is due or taken already (a taken one is made
# due again by its done, which sees that it was marked meanwhile).
_MARK = (
    LUA_NOW
    + """
local number = redis.call('INCR', KEYS[4])
redis.call('HSET', KEYS[2], ARGV[1], number)
if ARGV[2] == '1' then redis.call('HSET', KEYS[3], ARGV[1], number) end
redis.call('ZADD', KEYS[1], 'NX', now, ARGV[1])
return number
"""
)

# KEYS: announcements, marks, listings. ARGV: how many at most, the lease in milliseconds.
# Returns id, mark number, listing number ('0': none) for each announcement taken.
_TAKE = (
    LUA_NOW
    + """
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
local taken = {}
for _, id in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), id)
  taken[#taken + 1] = id
  taken[#taken + 1] = redis.call('HGET', KEYS[2], id) or '0'
  taken[#taken + 1] = redis.call('HGET', KEYS[3], id) or '0'
end
return taken
"""
)

# KEYS: announcements, marks, listings. ARGV: platform id, the mark number it was taken with.
# Returns 1 when it is gone, 0 when a change was marked meanwhile (it is due again at once).
_DONE = (
    LUA_NOW
    + """
local listing = redis.call('HGET', KEYS[3], ARGV[1])
if listing and tonumber(listing) <= tonumber(ARGV[2]) then redis.call('HDEL', KEYS[3], ARGV[1]) end
local mark = redis.call('HGET', KEYS[2], ARGV[1])
if not mark or tonumber(mark) <= tonumber(ARGV[2]) then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 1
end
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
return 0
"""
)


@dataclass(frozen=True)
class Taken:
    """An announcement a process took: announce the platform's status as it is now."""

    platform_id: str
    mark: int  # the number of the latest change it covers
    listing: bool  # the platform is owed the whole list of parties too


class Announcements:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._mark = redis.register_script(_MARK)
        self._take = redis.register_script(_TAKE)
        self._done = redis.register_script(_DONE)

    def _keys(self) -> list[str]:
        return [keys.announcements(), keys.announcement_marks(), keys.announcement_listings()]

    async def mark(self, platform_id: str, *, listing: bool) -> int:
        """Record that the platform's status changed (``listing``: and that it is owed the
        whole list); returns the change's number."""
        number = await call(
            self._mark(
                keys=[*self._keys(), keys.announcement_counter()],
                args=[platform_id, "1" if listing else "0"],
            )
        )
        return int(number)

    async def take(self, count: int, lease_seconds: float) -> list[Taken]:
        """At most ``count`` due announcements, each leased for ``lease_seconds``: unless it is
        done by then, it is due again (for any process)."""
        found = await call(
            self._take(keys=self._keys(), args=[count, max(1, int(lease_seconds * 1000))])
        )
        return [
            Taken(text(found[i]), int(found[i + 1]), int(found[i + 2]) > 0)
            for i in range(0, len(found), 3)
        ]

    async def done(self, taken: Taken) -> bool:
        """The announcement is made; False when the platform changed again since it was taken
        (it is due again, to announce that)."""
        return bool(await call(self._done(keys=self._keys(), args=[taken.platform_id, taken.mark])))
