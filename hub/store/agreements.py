"""Roaming agreements in Redis, and each process's copy of them.

Every agreement is one JSON entry of one hash; a second hash maps "cpo|partner|modules" (with
"|extensions" for an agreement that allows extension fields) to its id, so that adding the same
agreement twice finds the first (a 409 through the admin API, nothing at all for an import).
Both keys share the ``{hub}`` hash tag: a script changes them together, also on Redis Cluster.
Routing reads the process's copy (``AgreementCache``), so a routed call costs no Redis round
trip for agreements; a change is announced on a pub/sub channel and every process reloads.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

import msgspec
from redis.commands.core import AsyncScript

from hub.ocpi.common import PartyKey
from hub.records import Agreement
from hub.store import keys
from hub.store.connection import RedisClient, call, listen, text

log = logging.getLogger("hub.store")

_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(Agreement)

# KEYS: agreements, pairs; ARGV: pair field, id, record. Returns the id that holds the pair:
# the new one, or the one that held it already.
_ADD = """
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return existing end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return ARGV[2]
"""
# KEYS: agreements, pairs; ARGV: id, pair field. 1 when it was there.
_REMOVE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
if redis.call('HGET', KEYS[2], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[2], ARGV[2]) end
return 1
"""


def pair_field(agreement: Agreement) -> str:
    """What makes an agreement the same as another: its pair, its modules, and whether it
    allows extension fields. ``extensions`` is part of it so that an agreement with it can be
    added beside one without (and the latter then removed: the pair is never without an
    agreement), and so that an import that asks for it is never taken for the agreement
    without it and silently left out (README: "Roaming agreements"). It is written only when
    true, so the fields of agreements stored before it existed still find them."""
    cpo, partner, modules = agreement.cpo, agreement.partner, agreement.modules
    names = "*" if modules is None else ",".join(modules)
    field = f"{cpo[0]}:{cpo[1]}|{partner[0]}:{partner[1]}|{names}"
    return f"{field}|extensions" if agreement.extensions else field


def new_agreement(
    cpo: PartyKey,
    partner: PartyKey,
    modules: tuple[str, ...] | None,
    *,
    extensions: bool = False,
) -> Agreement:
    return Agreement(
        id=uuid.uuid4().hex[:16],
        cpo=cpo,
        partner=partner,
        modules=modules,
        created_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        extensions=extensions,
    )


class AgreementStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._add: AsyncScript = redis.register_script(_ADD)
        self._remove: AsyncScript = redis.register_script(_REMOVE)
        self._listeners: list[Callable[[], None]] = []
        self._warned: set[str] = set()

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every write of this process (other processes hear of
        theirs through the channel)."""
        self._listeners.append(listener)

    async def _changed(self) -> None:
        for listener in self._listeners:
            listener()
        await call(self._redis.publish(keys.agreement_changes(), b"changed"))

    async def add(self, agreement: Agreement) -> tuple[Agreement, bool]:
        """Store ``agreement`` unless the same pair, modules and ``extensions`` are agreed
        already (``pair_field``): then the stored one. True when it is new."""
        (found,) = await self.add_many([agreement])
        return found

    async def add_many(self, agreements: Iterable[Agreement]) -> list[tuple[Agreement, bool]]:
        """``add`` for each (an import of hundreds), announced once."""
        found = []
        for agreement in agreements:
            field = pair_field(agreement)
            held = text(
                await call(
                    self._add(
                        keys=[keys.agreements(), keys.agreement_pairs()],
                        args=[field, agreement.id, _encode.encode(agreement)],
                    )
                )
            )
            if held == agreement.id:
                found.append((agreement, True))
            else:
                found.append(((await self.get(held)) or agreement, False))
        if any(new for _, new in found):
            await self._changed()
        return found

    async def get(self, agreement_id: str) -> Agreement | None:
        raw = await call(self._redis.hget(keys.agreements(), agreement_id))
        return None if raw is None else self._read(agreement_id, raw)

    async def remove(self, agreement_id: str) -> Agreement | None:
        """The agreement removed, or None when there was none."""
        agreement = await self.get(agreement_id)
        if agreement is None:
            return None
        field = pair_field(agreement)
        removed = await call(
            self._remove(
                keys=[keys.agreements(), keys.agreement_pairs()], args=[agreement_id, field]
            )
        )
        if not removed:
            return None
        await self._changed()
        return agreement

    async def all(self) -> list[Agreement]:
        entries = await call(self._redis.hgetall(keys.agreements()))
        found = []
        for agreement_id, raw in entries.items():
            agreement = self._read(text(agreement_id), raw)
            if agreement is not None:
                found.append(agreement)
        return sorted(found, key=lambda a: (a.cpo, a.partner, a.created_at, a.id))

    def _read(self, agreement_id: str, raw: bytes | str) -> Agreement | None:
        try:
            return _decode.decode(raw)
        except (msgspec.DecodeError, RecursionError):
            # Data written by something else: skipped, said once per process.
            if agreement_id not in self._warned:
                self._warned.add(agreement_id)
                log.warning("agreement %s in Redis is unreadable; skipped", agreement_id)
            return None


class AgreementCache:
    """The process's copy of every agreement, reloaded when this or another process changes
    them, and at the latest every ``max_age`` seconds (in case a notification was lost)."""

    def __init__(self, redis: RedisClient, store: AgreementStore, *, max_age: float = 30.0):
        self._redis = redis
        self._store = store
        self._max_age = max_age
        self._current: tuple[Agreement, ...] | None = None
        self._loaded_at = 0.0
        self._version = 0
        self._loaded_version = -1
        self._lock = asyncio.Lock()
        self._listeners: list[Callable[[], None]] = []
        store.on_change(self.invalidate)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` whenever the agreements may have changed (in any process)."""
        self._listeners.append(listener)

    def invalidate(self) -> None:
        self._version += 1
        for listener in self._listeners:
            listener()

    def _fresh(self) -> bool:
        return (
            self._current is not None
            and self._loaded_version == self._version
            and time.monotonic() - self._loaded_at < self._max_age
        )

    async def current(self) -> tuple[Agreement, ...]:
        if self._fresh():
            assert self._current is not None
            return self._current
        async with self._lock:
            while not self._fresh():
                version, started = self._version, time.monotonic()
                loaded = tuple(await self._store.all())
                self._current, self._loaded_version, self._loaded_at = loaded, version, started
            assert self._current is not None
            return self._current

    async def watch(self) -> None:
        """Listen for other processes' changes until cancelled."""
        await listen(
            self._redis,
            keys.agreement_changes(),
            lambda _message: self.invalidate(),
            "agreement notifications",
        )
