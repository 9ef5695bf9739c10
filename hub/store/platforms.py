"""Platforms: one credentials relationship each, with its granted roles, endpoints and tokens.

Tokens that platforms call the hub with are kept only as SHA-256 hashes; the token the hub calls a
platform with must be sent, so it is kept as it is, in its own key and never in the record.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import msgspec
from redis.exceptions import RedisError, WatchError

from hub.errors import ConflictError, MethodNotAllowedError, StoreUnavailableError
from hub.ocpi.envelope import timestamp_now
from hub.records import (
    PLANNED,
    Party,
    PartyKey,
    Platform,
    TokenEncoding,
    TokenKind,
    index_granted,
)
from hub.store import keys
from hub.store.connection import RedisClient, call, text

log = logging.getLogger("hub.store")

SEEN_INTERVAL = 60.0
GRANT_ATTEMPTS = 20
UPDATE_ATTEMPTS = 50
# Distinct unreadable entries warned about once each, per process (more are skipped silently).
WARNED_ENTRIES = 1000


StatusListener = Callable[["Platform", "str | None"], Awaitable[None]]
# Told the id of the platform that changed (its record, tokens or roles).
ChangeListener = Callable[[str], None]
# A change of a record: a function of the freshest record that returns the record to store. It
# may be called more than once (each time with a fresh copy), so it must not do anything else.
Change = Callable[["Platform"], "Platform"]


class _Keep:
    """The outbound token stays as it is (``update``'s default)."""


KEEP = _Keep()


class TokenMatch(msgspec.Struct, frozen=True):
    platform_id: str
    kind: TokenKind
    candidate: int  # which of the candidates given to lookup_token matched


@dataclass
class Snapshot:
    """All platforms as one process sees them; never logged (it holds outbound tokens)."""

    platforms: dict[str, Platform] = field(default_factory=dict)
    outbound: dict[str, str] = field(default_factory=dict, repr=False)
    tokens: dict[str, TokenMatch] = field(default_factory=dict, repr=False)
    granted: dict[Party, str] = field(default_factory=dict)
    # The granted parties by (country code, party id): kept with ``granted`` by the cache, so
    # that routing need not index every party again after each change.
    granted_at: dict[PartyKey, frozenset[Party]] = field(default_factory=dict)
    # Which copy this is, counted by the process's cache (``PlatformCache.changed_since``).
    version: int = field(default=0, compare=False)


@dataclass
class PlatformPart:
    """What a Snapshot holds of one platform; ``platform`` is None (and the rest empty) when
    there is no such platform or its record cannot be read."""

    platform: Platform | None = None
    outbound: str | None = field(default=None, repr=False)
    tokens: dict[str, TokenMatch] = field(default_factory=dict, repr=False)
    granted: list[Party] = field(default_factory=list)


# A change message on keys.changes() names the platform that changed; any other message (an
# older hub's b"changed") means that anything may have changed.
_CHANGE_PREFIX = b"platform:"


def change_message(platform_id: str) -> bytes:
    return _CHANGE_PREFIX + platform_id.encode()


def changed_platform(message: bytes | str) -> str | None:
    """The platform a change message names; None when it names none."""
    raw = message.encode() if isinstance(message, str) else message
    if not raw.startswith(_CHANGE_PREFIX) or len(raw) == len(_CHANGE_PREFIX):
        return None
    return _readable(raw[len(_CHANGE_PREFIX) :])


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    # 48 URL-safe characters: well inside the 64 the spec allows, printable ASCII only.
    return secrets.token_urlsafe(36)


_record = msgspec.json.Encoder()
_decode_record = msgspec.json.Decoder(Platform)


class PlatformStore:
    """Redis access for platforms. Redis failures become ``StoreUnavailableError``.

    A platform becomes visible in one transaction of the hub-wide indexes (its id, its granted
    roles, its token A), after its own keys were written: a crash in between leaves only keys
    that nothing names. Records change by compare-and-set (``update``), so that a change never
    overwrites another made meanwhile, in this process or another.
    """

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._touched: dict[str, float] = {}
        self._listeners: list[ChangeListener] = []
        self._status_listeners: list[StatusListener] = []
        self._warned: set[str] = set()

    def on_change(self, listener: ChangeListener) -> None:
        """Call ``listener(platform_id)`` after every write of this process (other processes
        hear of theirs through the changes channel, see ``changed_platform``)."""
        self._listeners.append(listener)

    async def _changed(self, platform_id: str) -> None:
        for listener in self._listeners:
            listener(platform_id)
        await call(self._redis.publish(keys.changes(), change_message(platform_id)))

    def _skip(self, what: str, entry: str) -> None:
        """Say once per process that an entry Redis holds cannot be used (data written by an
        older version, or by hand); the hub goes on without it."""
        if entry in self._warned or len(self._warned) >= WARNED_ENTRIES:
            return
        self._warned.add(entry)
        log.warning("ignoring %s %r: it cannot be read or names no platform", what, entry)

    async def load_all(self) -> Snapshot:
        """Every platform, token hash and granted party, in a few round trips: what each
        process keeps in memory so that a request needs no Redis read.

        Entries that cannot be read, or that name a platform that does not exist, are left
        out (with a warning): one bad entry must not make every request fail."""
        ids = []
        for member in await call(self._redis.smembers(keys.platform_ids())):
            platform_id = _readable(member)
            if platform_id is None:
                self._skip("platform id", str(member))
                continue
            ids.append(platform_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for platform_id in ids:
                pipe.get(keys.platform(platform_id))
                pipe.get(keys.outbound_token(platform_id))
            found = await call(pipe.execute())
        tokens = await call(self._redis.hgetall(keys.token_index()))
        parties = await call(self._redis.hgetall(keys.party_index()))
        snapshot = Snapshot()
        for i, platform_id in enumerate(ids):
            record, outbound = found[2 * i], found[2 * i + 1]
            platform = self._decode(platform_id, record)
            if platform is None:
                continue
            snapshot.platforms[platform_id] = platform
            if outbound is not None:
                snapshot.outbound[platform_id] = text(outbound)
        for digest, value in tokens.items():
            readable, key = _readable(value), _readable(digest)
            match = None if readable is None else _token_entry(readable)
            if match is None or key is None or match[0].platform_id not in snapshot.platforms:
                # Only the platform id is named: the entry's key and value hold token hashes.
                self._skip("token index entry of", match[0].platform_id if match else "?")
                continue
            snapshot.tokens[key] = match[0]
        for name, owner in parties.items():
            field, owner_id = _readable(name), _readable(owner)
            party = None if field is None else _party_entry(field)
            if party is None or owner_id is None or owner_id not in snapshot.platforms:
                self._skip("granted role", f"{field or str(name)} -> {owner_id or str(owner)}")
                continue
            snapshot.granted[party] = owner_id
        snapshot.granted_at = index_granted(snapshot.granted)
        return snapshot

    async def load_platforms(self, ids: Collection[str]) -> dict[str, PlatformPart]:
        """What ``load_all`` would hold of each of these platforms, in two round trips however
        many platforms there are: a process that hears of a change of one platform reloads
        only that one.

        Tokens are the platform's own list of hashes checked against the token index (what
        authentication trusts); granted parties are the index entries of its roles that name
        it. Writes keep the platform's list a superset of its index entries (issued there
        first, revoked there last), so nothing the index holds for it is missed."""
        wanted = list(dict.fromkeys(ids))
        async with self._redis.pipeline(transaction=False) as pipe:
            for platform_id in wanted:
                pipe.get(keys.platform(platform_id))
                pipe.get(keys.outbound_token(platform_id))
                pipe.hgetall(keys.inbound_tokens(platform_id))
            own = await call(pipe.execute())
        parts: dict[str, PlatformPart] = {}
        digests: dict[str, list[str]] = {}
        fields: dict[str, list[str]] = {}
        for i, platform_id in enumerate(wanted):
            record, outbound, inbound = own[3 * i : 3 * i + 3]
            platform = self._decode(platform_id, record)
            if platform is None:
                parts[platform_id] = PlatformPart()
                continue
            parts[platform_id] = PlatformPart(
                platform, None if outbound is None else text(outbound)
            )
            digests[platform_id] = [d for d in map(_readable, inbound) if d is not None]
            fields[platform_id] = list(dict.fromkeys(map(_party_field, platform.roles)))
        async with self._redis.pipeline(transaction=False) as pipe:
            for platform_id in digests:
                pipe.sismember(keys.platform_ids(), platform_id)
                if digests[platform_id]:
                    pipe.hmget(keys.token_index(), digests[platform_id])
                if fields[platform_id]:
                    pipe.hmget(keys.party_index(), fields[platform_id])
            indexed = iter(await call(pipe.execute()))
        for platform_id, part in parts.items():
            if platform_id not in digests:
                continue
            listed = next(indexed)
            values = next(indexed) if digests[platform_id] else []
            owners = next(indexed) if fields[platform_id] else []
            if not listed:
                # Not (or no longer) named by the platform index: it does not exist.
                parts[platform_id] = PlatformPart()
                continue
            for digest, value in zip(digests[platform_id], values, strict=True):
                readable = None if value is None else _readable(value)
                entry = None if readable is None else _token_entry(readable)
                if entry is not None and entry[0].platform_id == platform_id:
                    part.tokens[digest] = entry[0]
            for name, owner in zip(fields[platform_id], owners, strict=True):
                party = _party_entry(name)
                if party is not None and owner is not None and _readable(owner) == platform_id:
                    part.granted.append(party)
        return parts

    def _decode(self, platform_id: str, raw: bytes | None) -> Platform | None:
        if raw is None:
            return None
        try:
            return _decode_record.decode(raw)
        except msgspec.DecodeError:
            self._skip("record of platform", platform_id)
            return None

    # --- records ----------------------------------------------------------------------

    async def create(
        self, name: str, roles: Iterable[Party], encoding: TokenEncoding
    ) -> tuple[Platform, str]:
        """A new PLANNED platform with its granted roles, and its token A (returned only here:
        the hub keeps its hash). ConflictError when a role is granted to another platform."""
        now = timestamp_now()
        platform = Platform(
            id=uuid.uuid4().hex[:12],
            name=name,
            status=PLANNED,
            roles=list(roles),
            created_at=now,
            updated_at=now,
            token_encoding=encoding,
            status_since=now,
        )
        token_a = new_token()
        digest = hash_token(token_a)
        # First the platform's own keys, which nothing names yet ...
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(keys.platform(platform.id), _record.encode(platform))
            pipe.hset(keys.inbound_tokens(platform.id), digest, "A")
            await call(pipe.execute())
        # ... then, in one transaction, everything that makes it exist for the others.
        try:
            await self._grant(
                platform.id,
                [_party_field(role) for role in platform.roles],
                platform_ids={platform.id},
                tokens={digest: _token_value(platform.id, "A", digest)},
            )
        except ConflictError:
            with contextlib.suppress(StoreUnavailableError):
                await call(
                    self._redis.delete(keys.platform(platform.id), keys.inbound_tokens(platform.id))
                )
            raise
        await self._changed(platform.id)
        for listener in self._status_listeners:
            await listener(platform, None)
        return platform, token_a

    async def _grant(
        self,
        platform_id: str,
        fields: list[str],
        *,
        platform_ids: set[str] | None = None,
        tokens: dict[str, str] | None = None,
    ) -> None:
        """Grant the roles ``fields`` to the platform, and add ``platform_ids`` and ``tokens``
        to their indexes, in one transaction of the ``{hub}`` slot (ConflictError if a role is
        another platform's).

        Optimistic: another platform created at the same moment makes the transaction fail;
        it is tried again, since only a role actually taken is a conflict."""
        index = keys.party_index()
        for _ in range(GRANT_ATTEMPTS):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(index)
                    owners = await pipe.hmget(index, fields) if fields else []
                    taken = [
                        f
                        for f, o in zip(fields, owners, strict=True)
                        if o and text(o) != platform_id
                    ]
                    if taken:
                        raise ConflictError(
                            f"role {taken[0]} is already granted to another platform"
                        )
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if fields:
                        pipe.hset(index, mapping=dict.fromkeys(fields, platform_id))
                    if platform_ids:
                        pipe.sadd(keys.platform_ids(), *platform_ids)
                    for digest, value in (tokens or {}).items():
                        pipe.hset(keys.token_index(), digest, value)
                    await pipe.execute()
            except WatchError:
                continue
            except (RedisError, OSError) as e:
                raise StoreUnavailableError(f"Redis: {e}") from e
            return
        raise ConflictError("roles changed concurrently too often; try again")

    async def release_roles(self, platform: Platform) -> None:
        """Free the platform's roles; a role granted to another platform since stays its."""
        fields = [_party_field(role) for role in platform.roles]
        if not fields:
            return
        index = keys.party_index()
        for _ in range(GRANT_ATTEMPTS):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(index)
                    owners = await pipe.hmget(index, fields)
                    mine = [
                        f
                        for f, o in zip(fields, owners, strict=True)
                        if o is not None and text(o) == platform.id
                    ]
                    pipe.multi()  # type: ignore[no-untyped-call]
                    if mine:
                        pipe.hdel(index, *mine)
                    await pipe.execute()
            except WatchError:
                continue
            except (RedisError, OSError) as e:
                raise StoreUnavailableError(f"Redis: {e}") from e
            await self._changed(platform.id)
            return
        raise ConflictError("roles changed concurrently too often; try again")

    async def update(
        self, platform_id: str, change: Change, *, outbound: str | _Keep | None = KEEP
    ) -> Platform | None:
        """Apply ``change`` to the freshest record and store the result, compare-and-set: when
        the record changed meanwhile (another request, another process), ``change`` is applied
        again to the new one. ``outbound`` sets (``None``: deletes) the token the hub calls the
        platform with in the same transaction. Returns the stored record, or ``None`` when
        there is no such platform; an exception raised by ``change`` stores nothing.

        Status listeners hear of the change once, when it is stored and the status moved."""
        key = keys.platform(platform_id)
        for _ in range(UPDATE_ATTEMPTS):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        return None
                    old = _decode_record.decode(raw)
                    # A copy of its own: ``change`` may modify what it is given.
                    new = change(_decode_record.decode(raw))
                    if new == old and isinstance(outbound, _Keep):
                        return old
                    if new != old:
                        new.updated_at = timestamp_now()
                        if new.status != old.status:
                            new.status_since = new.updated_at
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, _record.encode(new))
                    if outbound is None:
                        pipe.delete(keys.outbound_token(platform_id))
                    elif not isinstance(outbound, _Keep):
                        pipe.set(keys.outbound_token(platform_id), outbound)
                    await pipe.execute()
            except WatchError:
                continue
            except (RedisError, OSError) as e:
                raise StoreUnavailableError(f"Redis: {e}") from e
            except msgspec.DecodeError as e:
                raise StoreUnavailableError(
                    f"the record of platform {platform_id} is invalid"
                ) from e
            await self._changed(platform_id)
            if new.status != old.status:
                for listener in self._status_listeners:
                    await listener(new, old.status)
            return new
        raise ConflictError("the platform changed concurrently too often; try again")

    def on_status_change(self, listener: StatusListener) -> None:
        """Await ``listener(platform, old_status)`` after a platform's status changed (or it was
        created): HubClientInfo announces it."""
        self._status_listeners.append(listener)

    async def get(self, platform_id: str) -> Platform | None:
        """The platform's record; ``None`` for an unknown (or unreadable) one."""
        return self._decode(platform_id, await call(self._redis.get(keys.platform(platform_id))))

    async def all(self) -> list[Platform]:
        members = await call(self._redis.smembers(keys.platform_ids()))
        ids = sorted(i for i in map(_readable, members) if i is not None)
        # One round trip for all records, not one each (the admin API lists every platform).
        async with self._redis.pipeline(transaction=False) as pipe:
            for platform_id in ids:
                pipe.get(keys.platform(platform_id))
            records = await call(pipe.execute())
        found = (self._decode(i, raw) for i, raw in zip(ids, records, strict=True))
        return sorted((p for p in found if p is not None), key=lambda p: p.created_at)

    # --- tokens -----------------------------------------------------------------------

    async def lookup_token(self, candidates: list[str]) -> TokenMatch | None:
        """The first candidate that is a known token (the Base64 and the raw reading of one
        header), in one round trip."""
        hashes = [hash_token(c) for c in candidates]
        found = await call(self._redis.hmget(keys.token_index(), hashes))
        for index, (digest, value) in enumerate(zip(hashes, found, strict=True)):
            readable = None if value is None else _readable(value)
            entry = None if readable is None else _token_entry(readable)
            if entry is None:
                continue
            match, stored = entry
            # The index is keyed by the hash already; comparing it again in constant time keeps
            # the check explicit and free of early exits on the secret's bytes.
            if hmac.compare_digest(stored, digest):
                return TokenMatch(match.platform_id, match.kind, index)
        return None

    async def issue_token(self, platform_id: str, kind: TokenKind) -> str:
        token = new_token()
        digest = hash_token(token)
        # The platform's own list first: a token the index knows can always be revoked.
        await call(self._redis.hset(keys.inbound_tokens(platform_id), digest, kind))
        value = _token_value(platform_id, kind, digest)
        await call(self._redis.hset(keys.token_index(), digest, value))
        await self._changed(platform_id)
        return token

    async def revoke_tokens(
        self, platform_id: str, *, kinds: Iterable[TokenKind] = ("A", "C"), keep: str | None = None
    ) -> None:
        """Revoke this platform's inbound tokens of these kinds, except the token ``keep``."""
        wanted = {k.encode() for k in kinds}
        kept = hash_token(keep) if keep is not None else None
        held = await call(self._redis.hgetall(keys.inbound_tokens(platform_id)))
        doomed = [d.decode() for d, k in held.items() if k in wanted and d.decode() != kept]
        if doomed:
            # The index first: it is what authentication reads.
            await call(self._redis.hdel(keys.token_index(), *doomed))
            await call(self._redis.hdel(keys.inbound_tokens(platform_id), *doomed))
            await self._changed(platform_id)

    async def revoke_token(self, platform_id: str, token: str) -> None:
        digest = hash_token(token)
        await call(self._redis.hdel(keys.token_index(), digest))
        await call(self._redis.hdel(keys.inbound_tokens(platform_id), digest))
        await self._changed(platform_id)

    async def set_outbound_token(self, platform_id: str, token: str | None) -> None:
        key = keys.outbound_token(platform_id)
        await call(self._redis.delete(key) if token is None else self._redis.set(key, token))
        await self._changed(platform_id)

    async def outbound_token(self, platform_id: str) -> str | None:
        raw = await call(self._redis.get(keys.outbound_token(platform_id)))
        return None if raw is None else raw.decode()

    async def roles_sent(self, platform_id: str) -> str | None:
        """The digest of the parties a 2.3.0 platform was last told it can reach."""
        raw = await call(self._redis.get(keys.roles_sent(platform_id)))
        return None if raw is None else raw.decode()

    async def set_roles_sent(self, platform_id: str, digest: str) -> None:
        await call(self._redis.set(keys.roles_sent(platform_id), digest))

    # --- activity ---------------------------------------------------------------------

    async def touch(self, platform_id: str) -> None:
        """Remember that the platform called; at most one write a minute per process."""
        now = time.monotonic()
        if now - self._touched.get(platform_id, -SEEN_INTERVAL) < SEEN_INTERVAL:
            return
        self._touched[platform_id] = now
        await call(self._redis.set(keys.last_seen(platform_id), timestamp_now()))

    async def last_seen_epoch(self, platform_id: str) -> float | None:
        seen = await self.last_seen(platform_id)
        if seen is None:
            return None
        return datetime.strptime(seen, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()

    async def last_seen(self, platform_id: str) -> str | None:
        raw = await call(self._redis.get(keys.last_seen(platform_id)))
        return None if raw is None else text(raw)

    # --- handshakes -------------------------------------------------------------------

    @asynccontextmanager
    async def handshake(self, platform_id: str, ttl_seconds: float) -> AsyncIterator[None]:
        """One credentials handshake per platform at a time, in any hub process."""
        key = keys.handshake_lock(platform_id)
        holder = secrets.token_hex(8)
        got = await call(self._redis.set(key, holder, nx=True, px=int(ttl_seconds * 1000)))
        if not got:
            raise MethodNotAllowedError("a credentials handshake with this platform is under way")
        try:
            yield
        finally:
            # Release only our own lock (it may have expired and been taken by another).
            if await call(self._redis.get(key)) == holder.encode():
                await call(self._redis.delete(key))

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False


def _readable(value: bytes | str) -> str | None:
    """An index entry as text; None when its bytes are not UTF-8 (a hand or a bug wrote them)."""
    try:
        return text(value)
    except UnicodeDecodeError:
        return None


def _token_value(platform_id: str, kind: TokenKind, digest: str) -> str:
    return f"{platform_id} {kind} {digest}"


def _token_entry(value: str) -> tuple[TokenMatch, str] | None:
    """A token index value read back: the match and the stored hash; None when malformed."""
    parts = value.split(" ")
    if len(parts) != 3 or parts[1] not in ("A", "C"):
        return None
    platform_id, kind, digest = parts
    return TokenMatch(platform_id, "A" if kind == "A" else "C", 0), digest


def _party_entry(name: str) -> Party | None:
    """A party index field read back; None when it is not "<country>:<party>:<role>"."""
    parts = name.split(":")
    if len(parts) != 3 or not all(parts):
        return None
    return Party(*parts)


def _party_field(party: Party) -> str:
    return keys.party_field(party.country_code, party.party_id, party.role)
