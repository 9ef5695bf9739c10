"""The objects the hub keeps so that it can serve GET-all (OCPI 2.2.1, "Transport and format",
"GET All via Hub"): every Location, Tariff and Token broadcast through it, merged across parties
into one paginated list.

Per module, three keys share one hash-tag slot (see ``keys.held_*``): a hash of the objects,
a sorted set of their keys scored by ``last_updated`` (the order and date filters of a page),
and a lex index to find an object by its id alone. Every write changes the three in one Lua
script, so that two hub processes writing the same object can never leave the index at a stale
score; merges (EVSE, Connector, PATCH) read, merge in Python and write back only if the object
is still what they read (compare and set), retrying otherwise. Scripts touch only their
declared keys, so the same code runs on a plain Redis and on Redis Cluster.
"""

from __future__ import annotations

import asyncio
import random
import weakref
from collections.abc import Iterable
from typing import Any

import msgspec
import orjson
from redis.commands.core import AsyncScript

from hub.errors import InvalidParametersError, NotJsonError, StoreUnavailableError
from hub.ocpi.common import epoch_us, to_epoch_ms
from hub.store import keys
from hub.store.connection import RedisClient, call

MODULES = frozenset({"locations", "tariffs", "tokens"})
DEFAULT_TOKEN_TYPE = "RFID"  # the spec's default for ?type= on tokens
_MERGE_ATTEMPTS = 32
# The pause before a merge is tried again; from a generator of the hub's own, as in
# hub.delivery.health (the global one is the host program's).
_jitter = random.Random()


# KEYS: objects, index, ids. ARGV: key, json, score, id entry[, the json the merge read].
_WRITE = """
if ARGV[5] and redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[5] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[4])
return 1
"""
# KEYS: objects, index, ids. ARGV: key, id entry.
_DELETE = """
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('ZREM', KEYS[3], ARGV[2])
"""
# KEYS: objects, index. ARGV: min ms or '-inf' (inclusive), max ms or '+inf' (exclusive),
# offset, limit. Ranks, not ZRANGEBYSCORE ... LIMIT: a deep page costs what the first costs.
_PAGE = """
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

# As _PAGE, counting only the objects of some owners. ARGV[5..]: "CC:PID:" key prefixes (a
# country code and a party id are 2 and 3 letters or digits, so a key's owner is its first 7
# characters). Every object in the date range is looked at: the price of a per-caller view.
_PAGE_OF = """
local owners = {}
for i = 5, #ARGV do owners[ARGV[i]] = true end
local max = ARGV[2] == '+inf' and '+inf' or '(' .. ARGV[2]
local offset, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local total, members = 0, {}
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], ARGV[1], max)) do
  if owners[string.sub(member, 1, 7)] then
    if total >= offset and #members < limit then members[#members + 1] = member end
    total = total + 1
  end
end
local page = {total}
for i = 1, #members, 500 do
  local chunk = redis.call('HMGET', KEYS[1], unpack(members, i, math.min(i + 499, #members)))
  for _, object in ipairs(chunk) do if object then page[#page + 1] = object end end
end
return page
"""


class _Stamped(msgspec.Struct):
    last_updated: str | None = None


_stamp_of = msgspec.json.Decoder(_Stamped)


def _score(stamp: object) -> int:
    if not isinstance(stamp, str):
        raise InvalidParametersError("last_updated is required")
    try:
        return to_epoch_ms(stamp)
    except ValueError as e:
        raise InvalidParametersError(f"last_updated: {e}") from None


def _decode(body: bytes) -> dict[str, Any]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise NotJsonError(f"the body is not JSON: {e}") from None
    if not isinstance(value, dict):
        raise InvalidParametersError("the body must be a JSON object")
    return value


def _split(module: str, path: list[str]) -> tuple[str, list[str]]:
    """(the object's id as kept, the path below the object). Ids are CiStrings: upper-cased.
    Tokens are unique per (uid, type), so their id carries the type."""
    if module not in MODULES:
        raise ValueError(f"the hub keeps no {module}")
    depth = {"locations": 3, "tariffs": 1, "tokens": 2}[module]
    if not 1 <= len(path) <= depth:
        raise ValueError(f"bad {module} path: {path}")
    if module == "tokens":
        token_type = path[1] if len(path) > 1 else DEFAULT_TOKEN_TYPE
        return f"{path[0].upper()}:{token_type.upper()}", []
    return path[0].upper(), path[1:]


def _key(owner: tuple[str, str], object_id: str) -> str:
    return f"{owner[0].upper()}:{owner[1].upper()}:{object_id}"


def _find(items: list[Any], field: str, wanted: str) -> int | None:
    for i, item in enumerate(items):
        if isinstance(item, dict) and str(item.get(field, "")).upper() == wanted.upper():
            return i
    return None


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _bump(parent: dict[str, Any], child: dict[str, Any]) -> None:
    """2.2.1: a changed EVSE or Connector moves its parents' last_updated to its own (as sent)
    when that is later, so that date filters find the parent."""
    stamp = child.get("last_updated")
    if not isinstance(stamp, str):
        return
    _score(stamp)  # reject a bad stamp before it is copied
    try:
        later = epoch_us(stamp) > epoch_us(str(parent["last_updated"]))
    except (KeyError, ValueError):
        later = True
    if later:
        parent["last_updated"] = stamp


def _merged(
    obj: dict[str, Any], below: list[str], change: dict[str, Any], *, replace: bool
) -> dict[str, Any] | None:
    """``obj`` with ``change`` put (``replace``) or patched (shallow) at ``below`` (EVSE uid,
    Connector id); None when the EVSE or Connector to patch or to put into is unknown."""
    if not below:
        obj.update(change)
        return obj
    parent, items, field = obj, _list(obj.get("evses")), "uid"
    evse: dict[str, Any] | None = None
    if len(below) == 2:
        index = _find(items, "uid", below[0])
        if index is None:
            return None
        evse = parent = items[index]
        items, field = _list(evse.get("connectors")), "id"
    index = _find(items, field, below[-1])
    if index is not None:
        items[index] = change if replace else {**items[index], **change}
    elif replace:
        items.append(change)
    else:
        return None
    parent["evses" if field == "uid" else "connectors"] = items
    if evse is not None:
        _bump(evse, change)
    _bump(obj, change)
    return obj


def _pick(obj: dict[str, Any], below: list[str]) -> dict[str, Any] | None:
    found: Any = obj
    for field, plural, wanted in zip(("uid", "id"), ("evses", "connectors"), below, strict=False):
        items = found.get(plural)
        index = _find(items, field, wanted) if isinstance(items, list) else None
        if index is None:
            return None
        found = items[index]
    return found if isinstance(found, dict) else None


class HeldObjects:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._write: AsyncScript = redis.register_script(_WRITE)
        self._delete: AsyncScript = redis.register_script(_DELETE)
        self._page: AsyncScript = redis.register_script(_PAGE)
        self._page_of: AsyncScript = redis.register_script(_PAGE_OF)
        # Merges of one object wait for each other within this process, so that only merges
        # from other processes can make a compare-and-set fail.
        self._merging: weakref.WeakValueDictionary[str, asyncio.Lock] = (
            weakref.WeakValueDictionary()
        )

    async def put(self, module: str, owner: tuple[str, str], path: list[str], body: bytes) -> bool:
        """A whole object is kept byte for byte as sent (GET-all returns it so). An EVSE or
        Connector is merged into its Location; False (nothing stored) when that Location, or
        for a Connector its EVSE, is unknown: the caller decides what to answer."""
        object_id, below = _split(module, path)
        key = _key(owner, object_id)
        if below:
            return await self._merge(module, key, object_id, below, _decode(body), replace=True)
        try:
            stamp = _stamp_of.decode(body).last_updated
        except msgspec.ValidationError as e:
            raise InvalidParametersError(str(e)) from None
        except msgspec.DecodeError as e:
            raise NotJsonError(f"the body is not JSON: {e}") from None
        return await self._store(module, key, object_id, body, _score(stamp))

    async def patch(
        self, module: str, owner: tuple[str, str], path: list[str], body: bytes
    ) -> bool:
        """Merge the fields given into the object at ``path`` (a list field replaces the list);
        False when that object is unknown."""
        object_id, below = _split(module, path)
        key = _key(owner, object_id)
        return await self._merge(module, key, object_id, below, _decode(body), replace=False)

    async def delete(self, module: str, owner: tuple[str, str], path: list[str]) -> None:
        object_id, below = _split(module, path)
        if below:
            raise ValueError("only whole objects are deleted")
        key = _key(owner, object_id)
        await call(self._delete(keys=self._keys(module), args=[key, f"{object_id}\0{key}"]))

    async def get(self, module: str, owner: tuple[str, str], path: list[str]) -> bytes | None:
        """``owner``'s object as kept; an EVSE or Connector is cut out of its Location
        (re-encoded). Objects of one id kept by several parties are several objects
        (``owners_of`` finds them)."""
        object_id, below = _split(module, path)
        key = _key(owner, object_id)
        raw = await call(self._redis.hget(keys.held_objects(module), key))
        if raw is None or not below:
            return _bytes(raw)
        found = _pick(_decode(_bytes(raw) or b""), below)
        return None if found is None else orjson.dumps(found)

    async def page(
        self,
        module: str,
        *,
        date_from: str | None,
        date_to: str | None,
        offset: int,
        limit: int,
        owners: Iterable[tuple[str, str]] | None = None,
    ) -> tuple[list[bytes], int]:
        """(objects as kept, oldest first, ties by key; how many match in all). ``date_from``
        is inclusive, ``date_to`` exclusive, both compared with ``last_updated``. ``owners``:
        only the objects of these parties (None: everyone's)."""
        _split(module, ["-"])
        low = "-inf" if date_from is None else str(_parameter("date_from", date_from))
        high = "+inf" if date_to is None else str(_parameter("date_to", date_to))
        args: list[str | int] = [low, high, max(0, offset), max(0, limit)]
        if owners is None:
            reply = await call(self._page(keys=self._keys(module)[:2], args=args))
        else:
            args += sorted(_key(owner, "") for owner in owners)
            reply = await call(self._page_of(keys=self._keys(module)[:2], args=args))
        return [b for b in map(_bytes, reply[1:]) if b is not None], int(reply[0])

    def _keys(self, module: str) -> list[str]:
        return [keys.held_objects(module), keys.held_index(module), keys.held_ids(module)]

    async def _store(
        self,
        module: str,
        key: str,
        object_id: str,
        body: bytes,
        score: int,
        expected: bytes | None = None,
    ) -> bool:
        args: list[str | bytes | int] = [key, body, score, f"{object_id}\0{key}"]
        if expected is not None:
            args.append(expected)
        return bool(await call(self._write(keys=self._keys(module), args=args)))

    async def _merge(
        self,
        module: str,
        key: str,
        object_id: str,
        below: list[str],
        change: dict[str, Any],
        *,
        replace: bool,
    ) -> bool:
        """Read, merge, and write back only if nobody changed the object meanwhile."""
        lock = self._merging.get(key)
        if lock is None:
            lock = self._merging[key] = asyncio.Lock()
        async with lock:
            for attempt in range(_MERGE_ATTEMPTS):
                stored = _bytes(await call(self._redis.hget(keys.held_objects(module), key)))
                if stored is None:
                    return False
                merged = _merged(_decode(stored), below, dict(change), replace=replace)
                if merged is None:
                    return False
                body, score = orjson.dumps(merged), _score(merged.get("last_updated"))
                if await self._store(module, key, object_id, body, score, stored):
                    return True
                await asyncio.sleep(_jitter.uniform(0, 0.001 * (attempt + 1)))
        raise StoreUnavailableError(f"held object {key} changed too often to merge into")

    async def of_owner(self, module: str, owner: tuple[str, str]) -> list[bytes]:
        """Every object ``owner`` keeps of ``module`` (for a new partner's first sync)."""
        _split(module, ["-"])
        pattern = _key(owner, "*")  # country codes and party ids hold no glob characters
        found: list[bytes] = []
        cursor = 0
        while True:
            cursor, entries = await call(
                self._redis.hscan(keys.held_objects(module), cursor, match=pattern, count=500)
            )
            found.extend(_bytes(body) or b"" for body in entries.values())
            if not cursor:
                return found

    async def owners_of(self, module: str, path: list[str]) -> list[tuple[str, str]]:
        """Every party that keeps an object with the id at the start of ``path``."""
        object_id, _ = _split(module, path)
        prefix = object_id.encode()
        entries = await call(
            self._redis.zrangebylex(
                keys.held_ids(module), b"[" + prefix + b"\0", b"(" + prefix + b"\1"
            )
        )
        found = []
        for entry in entries:
            key = (_bytes(entry) or b"").split(b"\0", 1)[1].decode()
            country_code, party_id, _ = key.split(":", 2)
            found.append((country_code, party_id))
        return found


def _parameter(name: str, value: str) -> int:
    try:
        return to_epoch_ms(value)
    except ValueError as e:
        raise InvalidParametersError(f"{name}: {e}") from None


def _bytes(value: bytes | str | None) -> bytes | None:
    """Replies as bytes whether or not the client decodes responses."""
    return value.encode() if isinstance(value, str) else value
