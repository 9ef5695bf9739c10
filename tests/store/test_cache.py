"""PlatformCache's token lookups against a real redis-server of the test's own: a token another
process issued a moment ago is found at once, and unknown tokens cost Redis reads only within a
cap."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator

import pytest
from redis.asyncio import Redis

from hub.records import Party
from hub.store import keys
from hub.store.cache import PlatformCache, TokenBucket
from hub.store.embedded import EmbeddedRedis
from hub.store.platforms import PlatformStore, hash_token


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedRedis(tmp_path_factory.mktemp("cache") / "data") as srv:
        yield srv.url


def run(url: str, scenario: Callable[[Redis, Redis], Awaitable[None]]) -> None:
    """``scenario(this process's client, another process's client)``."""

    async def main() -> None:
        this, other = Redis.from_url(url), Redis.from_url(url)
        try:
            await this.flushdb()
            await scenario(this, other)
        finally:
            await this.aclose()
            await other.aclose()

    asyncio.run(main())


async def lookups(redis: Redis) -> int:
    """Token index reads so far (HMGET is what a lookup costs)."""
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


def test_a_token_another_process_issued_a_moment_ago_is_known_at_once(url: str) -> None:
    async def scenario(this: Redis, other: Redis) -> None:
        # No change listener runs: the other process's notification has not arrived.
        cache = PlatformCache(this, PlatformStore(this))
        await cache.current()
        other_store = PlatformStore(other)
        platform, token_a = await other_store.create("P", [Party("NL", "CPA", "CPO")], "auto")
        match, snapshot = await cache.identify(["not it", token_a])
        assert match is not None
        assert (match.platform_id, match.kind, match.candidate) == (platform.id, "A", 1)
        assert platform.id in snapshot.platforms
        # Known now: no more lookups.
        before = await lookups(this)
        assert (await cache.identify([token_a]))[0] is not None
        assert await lookups(this) == before

    run(url, scenario)


def test_an_unknown_token_is_looked_up_once_until_the_next_change(url: str) -> None:
    async def scenario(this: Redis, other: Redis) -> None:
        cache = PlatformCache(this, PlatformStore(this))
        platform, _ = await PlatformStore(other).create("P", [Party("NL", "CPA", "CPO")], "auto")
        await cache.current()
        before = await lookups(this)
        for _ in range(10):
            assert (await cache.identify(["later valid"]))[0] is None
        assert await lookups(this) == before + 1
        # Another process makes the token valid (written by hand here) and says so.
        digest = hash_token("later valid")
        await other.hset(keys.token_index(), digest, f"{platform.id} C {digest}")
        assert (await cache.identify(["later valid"]))[0] is None  # not told yet
        cache.invalidate()  # what the change notification does
        match, _ = await cache.identify(["later valid"])
        assert match is not None and match.platform_id == platform.id

    run(url, scenario)


def test_lookups_of_unknown_tokens_are_capped(url: str) -> None:
    async def scenario(this: Redis, other: Redis) -> None:
        cache = PlatformCache(this, PlatformStore(this), lookups=TokenBucket(7, 0.0))
        await cache.current()
        before = await lookups(this)
        for n in range(300):
            assert (await cache.identify([f"bad token {n}"]))[0] is None
        assert await lookups(this) - before == 7

    run(url, scenario)


def test_the_token_bucket() -> None:
    now = [100.0]
    bucket = TokenBucket(3, 2.0, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5  # one more
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] += 60  # never more than the burst
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
