"""Platforms: one credentials relationship each, with its granted roles, endpoints and tokens.

Tokens that platforms call the hub with are kept only as SHA-256 hashes; the token the hub calls a
platform with must be sent, so it is kept as it is, in its own key and never in the record.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import msgspec
from redis.exceptions import RedisError, WatchError

from hub.errors import Conflict, MethodNotAllowed, StoreUnavailable
from hub.ocpi.credentials import CredentialsRole
from hub.ocpi.envelope import timestamp_now
from hub.ocpi.versions import Endpoint
from hub.store import keys
from hub.store.connection import RedisClient, call

# HubClientInfo's ConnectionStatus words (2.2.1 "HubClientInfo module").
PLANNED = "PLANNED"
CONNECTED = "CONNECTED"
OFFLINE = "OFFLINE"
SUSPENDED = "SUSPENDED"

TokenKind = Literal["A", "C"]  # A: registration only; C: the credentials token in use
TokenEncoding = Literal["auto", "base64", "raw"]


SEEN_INTERVAL = 60.0
GRANT_ATTEMPTS = 20


class Party(msgspec.Struct, frozen=True, order=True):
    """One role of a platform: ``{country_code, party_id, role}``, upper-cased (CiString)."""

    country_code: str
    party_id: str
    role: str

    @classmethod
    def of(cls, country_code: str, party_id: str, role: str) -> Party:
        return cls(country_code.upper(), party_id.upper(), role.upper())

    @property
    def field(self) -> str:
        return keys.party_field(self.country_code, self.party_id, self.role)


class Platform(msgspec.Struct, kw_only=True):
    id: str
    name: str
    status: str
    roles: list[Party]
    created_at: str
    updated_at: str
    # filled in by the credentials handshake
    version: str | None = None
    platform_versions_url: str | None = None
    endpoints: list[Endpoint] = msgspec.field(default_factory=list)
    registered_roles: list[CredentialsRole] = msgspec.field(default_factory=list)
    registered_by: Literal["platform", "hub"] | None = None
    # how the hub encodes the token it sends: a setting, and what the handshake detected
    token_encoding: TokenEncoding = "auto"
    detected_base64: bool = True
    last_seen: str | None = None
    status_before_suspend: str | None = None
    deleted: bool = False
    status_since: str | None = None  # when the status last changed (HubClientInfo last_updated)

    @property
    def registered(self) -> bool:
        return self.version is not None

    @property
    def sends_base64(self) -> bool:
        if self.token_encoding == "auto":
            return self.detected_base64
        return self.token_encoding == "base64"


StatusListener = Callable[["Platform", "str | None"], Awaitable[None]]


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


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    # 48 URL-safe characters: well inside the 64 the spec allows, printable ASCII only.
    return secrets.token_urlsafe(36)


_record = msgspec.json.Encoder()
_decode_record = msgspec.json.Decoder(Platform)


class PlatformStore:
    """Redis access for platforms. Redis failures become ``StoreUnavailable``."""

    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis
        self._touched: dict[str, float] = {}
        self._listeners: list[Callable[[], None]] = []
        self._status_listeners: list[StatusListener] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every write of this process (other processes hear of
        theirs through the changes channel)."""
        self._listeners.append(listener)

    async def _changed(self) -> None:
        for listener in self._listeners:
            listener()
        await call(self._redis.publish(keys.changes(), b"changed"))

    async def load_all(self) -> Snapshot:
        """Every platform, token hash and granted party, in a few round trips: what each
        process keeps in memory so that a request needs no Redis read."""
        ids = [_text(m) for m in await call(self._redis.smembers(keys.platform_ids()))]
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
            if record is not None:
                snapshot.platforms[platform_id] = _decode_record.decode(record)
            if outbound is not None:
                snapshot.outbound[platform_id] = _text(outbound)
        for digest, value in tokens.items():
            platform_id, kind, _ = _text(value).split(" ")
            snapshot.tokens[_text(digest)] = TokenMatch(platform_id, "A" if kind == "A" else "C", 0)
        for name, platform_id in parties.items():
            country_code, party_id, role = _text(name).split(":")
            snapshot.granted[Party(country_code, party_id, role)] = _text(platform_id)
        return snapshot

    # --- records ----------------------------------------------------------------------

    async def create(self, name: str, roles: Iterable[Party], encoding: TokenEncoding) -> Platform:
        now = timestamp_now()
        platform = Platform(
            id=uuid.uuid4().hex[:12],
            name=name,
            status=PLANNED,
            roles=list(roles),
            created_at=now,
            updated_at=now,
            token_encoding=encoding,
        )
        await self.grant_roles(platform.id, platform.roles)
        await self.save(platform, touch=False)
        await call(self._redis.sadd(keys.platform_ids(), platform.id))
        await self._changed()
        return platform

    async def grant_roles(self, platform_id: str, roles: Iterable[Party]) -> None:
        """Claim the roles in the party index, all or none (Conflict if one is taken).

        Optimistic: another platform created at the same moment makes the transaction fail;
        it is tried again, since only a role actually taken is a conflict."""
        fields = [role.field for role in roles]
        index = keys.party_index()
        for _ in range(GRANT_ATTEMPTS):
            try:
                async with self._redis.pipeline(transaction=True) as pipe:
                    await pipe.watch(index)
                    owners = await pipe.hmget(index, fields)
                    taken = [
                        f
                        for f, o in zip(fields, owners, strict=True)
                        if o and _text(o) != platform_id
                    ]
                    if taken:
                        raise Conflict(f"role {taken[0]} is already granted to another platform")
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hset(index, mapping=dict.fromkeys(fields, platform_id))
                    await pipe.execute()
            except WatchError:
                continue
            except RedisError as e:
                raise StoreUnavailable(f"Redis: {e}") from e
            await self._changed()
            return
        raise Conflict("roles changed concurrently too often; try again")

    async def release_roles(self, platform: Platform) -> None:
        fields = [role.field for role in platform.roles]
        if fields:
            await call(self._redis.hdel(keys.party_index(), *fields))
            await self._changed()

    async def save(self, platform: Platform, *, touch: bool = True) -> None:
        previous = await self.get(platform.id)
        now = timestamp_now()
        if touch:
            platform.updated_at = now
        moved = previous is None or previous.status != platform.status
        if moved:
            platform.status_since = now
        await call(self._redis.set(keys.platform(platform.id), _record.encode(platform)))
        await self._changed()
        if moved:
            for listener in self._status_listeners:
                await listener(platform, previous.status if previous else None)

    def on_status_change(self, listener: StatusListener) -> None:
        """Await ``listener(platform, old_status)`` after a platform's status changed (or it was
        created): HubClientInfo announces it."""
        self._status_listeners.append(listener)

    async def get(self, platform_id: str) -> Platform | None:
        raw = await call(self._redis.get(keys.platform(platform_id)))
        return None if raw is None else _decode_record.decode(raw)

    async def all(self) -> list[Platform]:
        ids = sorted(m.decode() for m in await call(self._redis.smembers(keys.platform_ids())))
        found = [await self.get(i) for i in ids]
        return sorted((p for p in found if p is not None), key=lambda p: p.created_at)

    async def owner_of(self, party: Party) -> str | None:
        raw = await call(self._redis.hget(keys.party_index(), party.field))
        return None if raw is None else raw.decode()

    # --- tokens -----------------------------------------------------------------------

    async def lookup_token(self, candidates: list[str]) -> TokenMatch | None:
        """The first candidate that is a known token (the Base64 and the raw reading of one
        header), in one round trip."""
        hashes = [hash_token(c) for c in candidates]
        found = await call(self._redis.hmget(keys.token_index(), hashes))
        for index, (digest, value) in enumerate(zip(hashes, found, strict=True)):
            if value is None:
                continue
            platform_id, kind, stored = _text(value).split(" ")
            # The index is keyed by the hash already; comparing it again in constant time keeps
            # the check explicit and free of early exits on the secret's bytes.
            if hmac.compare_digest(stored, digest):
                return TokenMatch(platform_id, "A" if kind == "A" else "C", index)
        return None

    async def issue_token(self, platform_id: str, kind: TokenKind) -> str:
        token = new_token()
        digest = hash_token(token)
        await call(self._redis.hset(keys.token_index(), digest, f"{platform_id} {kind} {digest}"))
        await call(self._redis.hset(keys.inbound_tokens(platform_id), digest, kind))
        await self._changed()
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
            await self._changed()

    async def revoke_token(self, platform_id: str, token: str) -> None:
        digest = hash_token(token)
        await call(self._redis.hdel(keys.token_index(), digest))
        await call(self._redis.hdel(keys.inbound_tokens(platform_id), digest))
        await self._changed()

    async def set_outbound_token(self, platform_id: str, token: str | None) -> None:
        key = keys.outbound_token(platform_id)
        await call(self._redis.delete(key) if token is None else self._redis.set(key, token))
        await self._changed()

    async def outbound_token(self, platform_id: str) -> str | None:
        raw = await call(self._redis.get(keys.outbound_token(platform_id)))
        return None if raw is None else raw.decode()

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
        return None if raw is None else _text(raw)

    # --- handshakes -------------------------------------------------------------------

    @asynccontextmanager
    async def handshake(self, platform_id: str, ttl_seconds: float) -> AsyncIterator[None]:
        """One credentials handshake per platform at a time, in any hub process."""
        key = keys.handshake_lock(platform_id)
        holder = secrets.token_hex(8)
        got = await call(self._redis.set(key, holder, nx=True, px=int(ttl_seconds * 1000)))
        if not got:
            raise MethodNotAllowed("a credentials handshake with this platform is under way")
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


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
