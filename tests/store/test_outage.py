"""Redis goes away and comes back: the store says so with one error (which the web layer
answers 503), loses nothing that was written, and the process's copy of the platforms hears of
other processes' changes again."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from hub.errors import MethodNotAllowedError, StoreUnavailableError
from hub.records import CONNECTED, Party, Platform
from hub.store import keys
from hub.store.cache import PlatformCache
from hub.store.connection import open_redis
from hub.store.embedded import EmbeddedRedis
from hub.store.platforms import PlatformStore


def connected(platform: Platform) -> Platform:
    platform.status = CONNECTED
    return platform


def test_while_redis_is_away_the_store_fails_with_one_error_and_loses_nothing(
    tmp_path: Path,
) -> None:
    server = EmbeddedRedis(tmp_path / "r")  # short: the restarted server has the same socket
    url = server.start()

    async def scenario() -> None:
        redis = open_redis(url, cluster=False)
        store = PlatformStore(redis)
        try:
            created, token_a = await store.create("CPO", [Party("NL", "CPA", "CPO")], "auto")
            assert await store.ping()
            server.stop()

            assert not await store.ping()
            failing: list[Callable[[], Awaitable[object]]] = [
                lambda: store.get(created.id),
                lambda: store.update(created.id, connected),
                lambda: store.create("Other", [Party("NL", "CPB", "CPO")], "auto"),
                lambda: store.release_roles(created),
                lambda: store.load_all(),
            ]
            for call in failing:
                with pytest.raises(StoreUnavailableError, match=r"^Redis: "):
                    await call()

            assert server.start() == url
            assert await store.ping()
            fresh = await store.get(created.id)
            assert fresh == created  # the failed update changed nothing
            assert await store.lookup_token([token_a]) is not None
            assert [p.name for p in await store.all()] == ["CPO"]
        finally:
            await redis.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_the_copy_of_the_platforms_hears_of_changes_again_after_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = EmbeddedRedis(tmp_path / "r")
    url = server.start()

    async def scenario() -> None:
        mine, theirs = open_redis(url, cluster=False), open_redis(url, cluster=False)
        # Reloaded only when told of a change (no reload by age during the test).
        cache = PlatformCache(mine, PlatformStore(mine), max_age=3600)
        other_process = PlatformStore(theirs)
        watching = asyncio.create_task(cache.watch())
        try:
            assert (await cache.current()).platforms == {}
            server.stop()
            await asyncio.sleep(0.5)  # the subscription breaks
            server.start()
            created, _ = await other_process.create("CPO", [Party("NL", "CPA", "CPO")], "auto")

            async def known() -> bool:
                return created.id in (await cache.current()).platforms

            for _ in range(100):  # the listener retries after a second
                if await known():
                    break
                await asyncio.sleep(0.05)
            assert await known(), "the change was not heard of"
        finally:
            watching.cancel()
            await asyncio.wait({watching}, timeout=10)
            await mine.aclose()
            await theirs.aclose()

    try:
        with caplog.at_level(logging.WARNING, logger="hub.store"):
            asyncio.run(scenario())
    finally:
        server.stop()
    assert any(
        r.getMessage().startswith("change notifications interrupted") for r in caplog.records
    )


def test_a_handshake_lock_that_expired_is_not_freed_by_its_first_holder(tmp_path: Path) -> None:
    """A handshake that outlived its lock must not free the lock of the one that took over."""
    with EmbeddedRedis(tmp_path / "r") as server:

        async def scenario() -> None:
            redis = open_redis(server.url, cluster=False)
            store = PlatformStore(redis)
            try:
                first = store.handshake("p1", ttl_seconds=0.1)
                await first.__aenter__()
                await asyncio.sleep(0.3)  # its lock expired
                second = store.handshake("p1", ttl_seconds=10)
                await second.__aenter__()  # so another handshake could begin
                await first.__aexit__(None, None, None)
                with pytest.raises(MethodNotAllowedError, match="is under way"):
                    async with store.handshake("p1", ttl_seconds=10):
                        pass
                await second.__aexit__(None, None, None)
                async with store.handshake("p1", ttl_seconds=10):
                    pass  # free again
            finally:
                await redis.aclose()

        asyncio.run(scenario())


def test_a_record_that_cannot_be_read_cannot_be_changed(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "r") as server:

        async def scenario() -> None:
            redis = open_redis(server.url, cluster=False)
            store = PlatformStore(redis)
            try:
                created, _ = await store.create("CPO", [Party("NL", "CPA", "CPO")], "auto")
                await redis.set(keys.platform(created.id), b"{not a record")
                assert await store.get(created.id) is None
                with pytest.raises(StoreUnavailableError, match="is invalid"):
                    await store.update(created.id, connected)
                assert await redis.get(keys.platform(created.id)) == (b"{not a record")
            finally:
                await redis.aclose()

        asyncio.run(scenario())
