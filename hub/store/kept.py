"""The sessions and CDRs the hub delivered to each eMSP, kept so that the eMSP can pull them
again from the hub (README: "Kept sessions and CDRs"): a 2.1.1 eMSP pulls them from "its CPO",
which is the hub, and a 2.2.1 eMSP from the hub's Sender interface. And the ones whose eMSP the
hub could not find, parked for the operator (README: "Unrouted sessions and CDRs").

Objects are kept in their 2.2.1 form, per eMSP party. Three keys of one eMSP share a hash-tag
slot (see ``keys.kept_*``): a hash of the records, a sorted set of their keys scored by
``last_updated`` (the order and date filters of a page) and one scored by when the hub kept them
(what retention prunes by). Every write and every page first drops what is older than the
retention, in the same Lua script, and sets each key to expire one retention after the write:
records of a party nobody writes to or reads vanish with their keys, and no task ever walks
every party's keys. Scripts touch only their declared keys, so the same code runs on a plain
Redis and on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson
from redis.commands.core import AsyncScript

from hub.errors import InvalidParametersError, NotJsonError, StoreUnavailableError
from hub.ocpi.common import PartyKey, to_epoch_ms
from hub.store import keys
from hub.store.connection import RedisClient, call

MODULES = frozenset({"sessions", "cdrs"})
_MERGE_ATTEMPTS = 32
# The pause before a merge is tried again (as in hub.store.held).
_jitter = random.Random()

# Drop the records kept at or before ARGV cutoff: their hash fields and both index entries
# (``index`` may be nil where there is none). In chunks: Lua's unpack has a stack limit.
_PRUNE = """
local function prune(records, index, times, cutoff)
  local old = redis.call('ZRANGEBYSCORE', times, '-inf', cutoff)
  for i = 1, #old, 500 do
    local last = math.min(i + 499, #old)
    redis.call('HDEL', records, unpack(old, i, last))
    if index then redis.call('ZREM', index, unpack(old, i, last)) end
  end
  if #old > 0 then redis.call('ZREMRANGEBYSCORE', times, '-inf', cutoff) end
end
"""
# KEYS: records, index, times. ARGV: key, json, last_updated ms, now ms, retention ms[, the
# json the merge read].
_KEEP = (
    _PRUNE
    + """
local now, retention = tonumber(ARGV[4]), tonumber(ARGV[5])
prune(KEYS[1], KEYS[2], KEYS[3], now - retention)
if ARGV[6] and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[6] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], now, ARGV[1])
for i = 1, 3 do redis.call('PEXPIRE', KEYS[i], retention) end
return 1
"""
)
# KEYS: records, times. ARGV: key, cutoff ms. A record kept at or before the cutoff is gone,
# whether or not a write has pruned it yet.
_GET = """
local at = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not at or tonumber(at) <= tonumber(ARGV[2]) then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
"""
# KEYS: records, index, times. ARGV: min ms or '-inf' (inclusive), max ms or '+inf'
# (exclusive), offset, limit, cutoff ms. Ranks, not ZRANGEBYSCORE ... LIMIT: a deep page costs
# what the first costs (as hub.store.held pages).
_PAGE = (
    _PRUNE
    + """
prune(KEYS[1], KEYS[2], KEYS[3], tonumber(ARGV[5]))
local before = 0
if ARGV[1] ~= '-inf' then before = redis.call('ZCOUNT', KEYS[2], '-inf', '(' .. ARGV[1]) end
local max = ARGV[2] == '+inf' and '+inf' or '(' .. ARGV[2]
local total = redis.call('ZCOUNT', KEYS[2], ARGV[1], max)
local offset, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local page = {total}
if offset >= total or limit <= 0 then return page end
local members = redis.call('ZRANGE', KEYS[2], before + offset,
                           before + math.min(total, offset + limit) - 1)
for i = 1, #members, 500 do
  local chunk = redis.call('HMGET', KEYS[1], unpack(members, i, math.min(i + 499, #members)))
  for _, object in ipairs(chunk) do if object then page[#page + 1] = object end end
end
return page
"""
)
# KEYS: unrouted records, times. ARGV: id, json, now ms, retention ms.
_PARK = (
    _PRUNE
    + """
local now, retention = tonumber(ARGV[3]), tonumber(ARGV[4])
prune(KEYS[1], nil, KEYS[2], now - retention)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
for i = 1, 2 do redis.call('PEXPIRE', KEYS[i], retention) end
return 1
"""
)
# KEYS: unrouted records, times. ARGV: offset, limit, cutoff ms. Oldest first.
_UNROUTED = (
    _PRUNE
    + """
prune(KEYS[1], nil, KEYS[2], tonumber(ARGV[3]))
local total = redis.call('ZCARD', KEYS[2])
local offset, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local page = {total}
if offset >= total or limit <= 0 then return page end
local ids = redis.call('ZRANGE', KEYS[2], offset, math.min(total, offset + limit) - 1)
for i = 1, #ids, 500 do
  local chunk = redis.call('HMGET', KEYS[1], unpack(ids, i, math.min(i + 499, #ids)))
  for _, record in ipairs(chunk) do if record then page[#page + 1] = record end end
end
return page
"""
)
# KEYS: unrouted records, times. ARGV: id, the json read. Only what was read is removed: a
# newer state parked meanwhile stays for the operator.
_UNPARK = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
"""


class Parked(msgspec.Struct, kw_only=True, frozen=True):
    """A session or CDR whose eMSP the hub could not find, with when and why it was parked."""

    id: str
    module: str
    cpo: tuple[str, str]
    object_id: str
    reason: str
    kept_at: str  # RFC 3339, UTC
    body: msgspec.Raw  # the object as the CPO sent it
    # The version of ``body``: a 2.1.1 CDR whose token the hub did not know stays 2.1.1
    # until it is assigned (README: "Unrouted sessions and CDRs").
    version: str = "2.2.1"


class _Stamped(msgspec.Struct):
    last_updated: str | None = None


_stamp_of = msgspec.json.Decoder(_Stamped)
_parked_of = msgspec.json.Decoder(Parked)


def unrouted_id(module: str, cpo: PartyKey, object_id: str) -> str:
    """The id of a parked object: one per (module, CPO, object id), so that a later state of
    the same object replaces the one parked before instead of piling up beside it."""
    _check(module)
    seed = f"{module}\0{_record_key(cpo, object_id)}"
    return hashlib.sha256(seed.encode()).hexdigest()[:16]


def _check(module: str) -> None:
    if module not in MODULES:
        raise ValueError(f"the hub keeps no {module}")


def _record_key(cpo: PartyKey, object_id: str) -> str:
    # Object ids are CiStrings (2.2.1 "Types"): one spelling. A country code and a party id are
    # 2 and 3 letters or digits, so the object id starts at the 8th character whatever it holds.
    return f"{cpo[0].upper()}:{cpo[1].upper()}:{object_id.upper()}"


def _score(stamp: object) -> int:
    if not isinstance(stamp, str):
        raise InvalidParametersError("last_updated is required")
    try:
        return to_epoch_ms(stamp)
    except ValueError as e:
        raise InvalidParametersError(f"last_updated: {e}") from None


def _stamp(body: bytes) -> int:
    try:
        return _score(_stamp_of.decode(body).last_updated)
    except msgspec.ValidationError as e:
        raise InvalidParametersError(str(e)) from None
    except msgspec.DecodeError as e:
        raise NotJsonError(f"the body is not JSON: {e}") from None


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise NotJsonError(f"the body is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise InvalidParametersError("the body must be a JSON object")
    return value


def merge_session(kept: dict[str, Any], fragment: dict[str, Any]) -> dict[str, Any]:
    """A Session PATCH applied to the kept Session: the fields given replace the kept ones,
    but ``charging_periods`` are appended to the kept ones (OCPI 2.2.1, 9.2.2.3 "Sessions
    module", Receiver PATCH: "only the new charging periods")."""
    merged = {**kept, **fragment}
    periods = fragment.get("charging_periods")
    before = kept.get("charging_periods")
    if isinstance(periods, list) and isinstance(before, list):
        merged["charging_periods"] = before + periods
    return merged


def _bytes(value: bytes | str | None) -> bytes | None:
    """Replies as bytes whether or not the client decodes responses."""
    return value.encode() if isinstance(value, str) else value


class KeptRecords:
    """``retention``: seconds a record stays after the hub last kept it (--cdr-retention);
    ``clock``: the time in seconds since the epoch (a test may move it)."""

    def __init__(
        self,
        redis: RedisClient,
        *,
        retention: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if retention <= 0:
            raise ValueError("the retention must be above 0")
        self._redis = redis
        self._retention_ms = max(1, round(retention * 1000))
        self._clock = clock
        self._keep: AsyncScript = redis.register_script(_KEEP)
        self._get: AsyncScript = redis.register_script(_GET)
        self._page: AsyncScript = redis.register_script(_PAGE)
        self._park: AsyncScript = redis.register_script(_PARK)
        self._unrouted: AsyncScript = redis.register_script(_UNROUTED)
        self._unpark: AsyncScript = redis.register_script(_UNPARK)
        # Merges of one record wait for each other within this process, so that only merges
        # from other processes can make a compare-and-set fail (as in hub.store.held).
        self._merging: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    # --- an eMSP's records -----------------------------------------------------------------

    async def keep(
        self, module: str, emsp: PartyKey, cpo: PartyKey, object_id: str, body: bytes
    ) -> None:
        """Keep a whole object as given (bytes), replacing what was kept of it."""
        _check(module)
        await self._store(module, emsp, _record_key(cpo, object_id), body, _stamp(body))

    async def patch(
        self, module: str, emsp: PartyKey, cpo: PartyKey, object_id: str, fragment: bytes
    ) -> bool:
        """Merge a Session PATCH into the kept Session (``merge_session``); False when none is
        kept (never delivered, or gone with the retention)."""
        _check(module)
        if module != "sessions":
            raise ValueError(f"{module} are never patched (2.2.1: a CDR is POSTed once)")
        change = _object(fragment)
        key = _record_key(cpo, object_id)
        name = f"{keys.kept_records(module, emsp)}\0{key}"
        lock = self._merging.get(name)
        if lock is None:
            lock = self._merging[name] = asyncio.Lock()
        async with lock:
            for attempt in range(_MERGE_ATTEMPTS):
                stored = await self._read(module, emsp, key)
                if stored is None:
                    return False
                merged = merge_session(_object(stored), change)
                body = orjson.dumps(merged)
                score = _score(merged.get("last_updated"))
                if await self._store(module, emsp, key, body, score, stored):
                    return True
                await asyncio.sleep(_jitter.uniform(0, 0.001 * (attempt + 1)))
        raise StoreUnavailableError(f"kept {module[:-1]} {key} changed too often to merge into")

    async def get(self, module: str, emsp: PartyKey, cpo: PartyKey, object_id: str) -> bytes | None:
        _check(module)
        return await self._read(module, emsp, _record_key(cpo, object_id))

    async def page(
        self,
        module: str,
        emsp: PartyKey,
        *,
        date_from: str | None,
        date_to: str | None,
        offset: int,
        limit: int,
    ) -> tuple[list[bytes], int]:
        """(``emsp``'s records, oldest ``last_updated`` first, ties by CPO and id; how many
        match in all). ``date_from`` is inclusive, ``date_to`` exclusive (2.2.1 "Transport
        and format", Pagination), both compared with ``last_updated``."""
        _check(module)
        low = "-inf" if date_from is None else str(_parameter("date_from", date_from))
        high = "+inf" if date_to is None else str(_parameter("date_to", date_to))
        args: list[str | int] = [low, high, max(0, offset), max(0, limit), self._cutoff()]
        reply = await call(self._page(keys=self._keys(module, emsp), args=args))
        return [b for b in map(_bytes, reply[1:]) if b is not None], int(reply[0])

    def _keys(self, module: str, emsp: PartyKey) -> list[str]:
        return [
            keys.kept_records(module, emsp),
            keys.kept_index(module, emsp),
            keys.kept_times(module, emsp),
        ]

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _cutoff(self) -> int:
        """Records kept at or before this moment (epoch ms) are past the retention."""
        return self._now_ms() - self._retention_ms

    async def _read(self, module: str, emsp: PartyKey, key: str) -> bytes | None:
        wanted = [keys.kept_records(module, emsp), keys.kept_times(module, emsp)]
        return _bytes(await call(self._get(keys=wanted, args=[key, self._cutoff()])))

    async def _store(
        self,
        module: str,
        emsp: PartyKey,
        key: str,
        body: bytes,
        score: int,
        expected: bytes | None = None,
    ) -> bool:
        args: list[str | bytes | int] = [key, body, score, self._now_ms(), self._retention_ms]
        if expected is not None:
            args.append(expected)
        return bool(await call(self._keep(keys=self._keys(module, emsp), args=args)))

    # --- what the hub could not route --------------------------------------------------------

    async def park(
        self,
        module: str,
        cpo: PartyKey,
        object_id: str,
        body: bytes,
        reason: str,
        *,
        version: str = "2.2.1",
    ) -> Parked:
        """Keep an object whose eMSP the hub cannot find (the operator may assign it later);
        a later state of the same object replaces it (``unrouted_id``)."""
        now = self._clock()
        _object(body)  # it is embedded in the record as JSON: it must be a JSON object
        record = Parked(
            id=unrouted_id(module, cpo, object_id),
            module=module,
            cpo=(cpo[0].upper(), cpo[1].upper()),
            object_id=object_id,
            reason=reason,
            kept_at=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            body=msgspec.Raw(body),
            version=version,
        )
        args: list[str | bytes | int] = [
            record.id,
            msgspec.json.encode(record),
            int(now * 1000),
            self._retention_ms,
        ]
        await call(self._park(keys=self._unrouted_keys(), args=args))
        return record

    async def unrouted(self, offset: int, limit: int) -> tuple[list[Parked], int]:
        """(parked objects, oldest first; how many in all)."""
        args = [max(0, offset), max(0, limit), self._cutoff()]
        reply = await call(self._unrouted(keys=self._unrouted_keys(), args=args))
        records = [_parked_of.decode(b) for b in map(_bytes, reply[1:]) if b is not None]
        return records, int(reply[0])

    async def parked(self, unrouted: str) -> Parked | None:
        raw = await self._parked_raw(unrouted)
        return None if raw is None else _parked_of.decode(raw)

    async def unrouted_count(self) -> int:
        """How many objects are parked now (for the metrics)."""
        count = self._redis.zcount(keys.unrouted_times(), f"({self._cutoff()}", "+inf")
        return int(await call(count))

    async def assign(
        self, unrouted: str, emsp: PartyKey, *, body: bytes | None = None
    ) -> Parked | None:
        """Move a parked object to ``emsp``'s kept records (the operator's choice), kept as of
        now; None when no such object is parked. A newer state of the object parked meanwhile
        stays parked. ``body``: the object's 2.2.1 form when the parked one is not."""
        raw = await self._parked_raw(unrouted)
        if raw is None:
            return None
        record = _parked_of.decode(raw)
        kept = body if body is not None else bytes(record.body)
        await self.keep(record.module, emsp, record.cpo, record.object_id, kept)
        await call(self._unpark(keys=self._unrouted_keys(), args=[unrouted, raw]))
        return record

    async def _parked_raw(self, unrouted: str) -> bytes | None:
        args: list[str | int] = [unrouted, self._cutoff()]
        return _bytes(await call(self._get(keys=self._unrouted_keys(), args=args)))

    def _unrouted_keys(self) -> list[str]:
        return [keys.unrouted_records(), keys.unrouted_times()]


def _parameter(name: str, value: str) -> int:
    try:
        return to_epoch_ms(value)
    except ValueError as e:
        raise InvalidParametersError(f"{name}: {e}") from None
