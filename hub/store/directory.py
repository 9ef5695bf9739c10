"""What the hub learns about objects from the calls it routes, for open routing (2.2.1
"Open routing request"): who owns a token, a location, a session, a reservation, and who set
a charging profile. Only ids and parties are kept, never the objects themselves.
"""

from __future__ import annotations

from collections import OrderedDict

from hub.ocpi.common import PartyKey
from hub.store import keys
from hub.store.connection import RedisClient, call


def _party(party: PartyKey) -> str:
    return f"{party[0]}:{party[1]}"


def _parse(text: str) -> PartyKey | None:
    """A party written by ``_party``; None for anything else (a party id with a colon that
    an older version let through): it names no one the hub could route to."""
    parts = text.split(":")
    if len(parts) != 2:
        return None
    return (parts[0], parts[1])


# Owners this process wrote recently: a location pushed again (as they are, all day long) costs
# no Redis write on the forwarding path.
RECENT_LIMIT = 100_000


class Directory:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._recent: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def remember(
        self, kind: str, object_id: str, *parties: PartyKey, ttl: int | None = None
    ) -> None:
        """``parties`` is the owner, or the pair (CPO, eMSP) for sessions and reservations."""
        name = keys.owners(kind, object_id)
        entry = ">".join(_party(p) for p in parties)
        if ttl is None:
            if (name, entry) in self._recent:
                self._recent.move_to_end((name, entry))
                return
            self._recent[(name, entry)] = None
            if len(self._recent) > RECENT_LIMIT:
                self._recent.popitem(last=False)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.sadd(name, entry)
            if ttl is not None:
                pipe.expire(name, ttl)
            await call(pipe.execute())

    async def recall(self, kind: str, object_id: str) -> list[tuple[PartyKey, ...]]:
        members = await call(self._redis.smembers(keys.owners(kind, object_id)))
        found = []
        for member in members:
            text = member.decode() if isinstance(member, bytes) else member
            parties = [_parse(part) for part in text.split(">")]
            if all(parties):
                found.append(tuple(p for p in parties if p is not None))
        return sorted(found)
