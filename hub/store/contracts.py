"""What the version layer keeps to carry ids between 2.1.1 and 2.2.1.

Tokens by contract id: a 2.1.1 Session or CDR names its token only by ``auth_id`` (2.1.1
mod_sessions.md §3.1), which is the 2.2.1 ``contract_id``; its eMSP and the CdrToken that 2.2.1
requires are found here (2.2.1 "Sessions module", CdrToken). Learned from every token the hub
takes and every CdrToken it relays.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import msgspec

from hub.store import keys
from hub.store.connection import RedisClient, call

# A token is used for years; the copy is refreshed with every push of it.
CONTRACT_SECONDS = 400 * 24 * 3600
CDR_TOKEN_FIELDS = ("country_code", "party_id", "uid", "type", "contract_id")

# A reservation can be cancelled (and sent again) until it expires; reservations last a month at
# most on this hub (``hub.openrouting.LONGEST_RESERVATION``).
RESERVATION_SECONDS = 31 * 24 * 3600

_decode = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.Encoder()


# CdrTokens this process wrote recently: every session and CDR of a token names it again, and
# that costs no Redis write on the forwarding path (the copy lives for CONTRACT_SECONDS).
RECENT_LIMIT = 100_000


class Contracts:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._recent: OrderedDict[bytes, None] = OrderedDict()

    async def remember(self, token: dict[str, Any]) -> None:
        """Keep the CdrToken of a 2.2.1 Token or CdrToken (with its owner's country_code and
        party_id); anything without a contract id and an owner is not kept."""
        found = {name: token.get(name) for name in CDR_TOKEN_FIELDS}
        if not all(isinstance(value, str) and value for value in found.values()):
            return
        contract_id = str(found["contract_id"])
        value = _encode.encode(found)
        if value in self._recent:
            self._recent.move_to_end(value)
            return
        await call(self._redis.set(keys.contract(contract_id), value, ex=CONTRACT_SECONDS))
        self._recent[value] = None
        if len(self._recent) > RECENT_LIMIT:
            self._recent.popitem(last=False)

    async def find(self, contract_id: str) -> dict[str, Any] | None:
        """The CdrToken of ``contract_id`` (case-insensitive, CiString), else None."""
        raw = await call(self._redis.get(keys.contract(contract_id)))
        if raw is None:
            return None
        try:
            return _decode.decode(raw)
        except msgspec.DecodeError:
            return None


class ReservationNumbers:
    """A 2.1.1 ``reservation_id`` is an int, a 2.2.1 one a CiString(36) (2.1.1 mod_commands.md
    §3.2, 2.2.1 "Commands module" ReserveNow): each 2.2.1 id gets one number, the same every
    time it is sent, since a RESERVE_NOW with a known id replaces that reservation."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def number(self, reservation_id: str) -> int:
        key = keys.reservation_number(reservation_id)
        found = await call(self._redis.get(key))
        if found is not None:
            return int(found)
        fresh = int(await call(self._redis.incr(keys.reservation_counter())))
        # Two processes numbering one id at once: the first number written wins.
        await call(self._redis.set(key, fresh, ex=RESERVATION_SECONDS, nx=True))
        return int(await call(self._redis.get(key)))
