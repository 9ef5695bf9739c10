"""PlatformStore against a real redis-server of the test's own: records change by
compare-and-set, a platform is created all or nothing, and data it cannot use does not break
loading the snapshot."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from hub.records import CONNECTED, PLANNED, SUSPENDED, Party, Platform
from hub.store import keys
from hub.store.connection import text
from hub.store.platforms import PlatformStore
from tests.store.scenario import run

CPO = Party("NL", "CPA", "CPO")
EMSP = Party("NL", "EMA", "EMSP")


async def two_stores(url: str) -> tuple[PlatformStore, PlatformStore, list[Redis]]:
    """Two stores on clients of their own, as two hub processes have."""
    clients = [Redis.from_url(url), Redis.from_url(url)]
    return PlatformStore(clients[0]), PlatformStore(clients[1]), clients


# --- compare-and-set ------------------------------------------------------------------


def test_concurrent_updates_all_land(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        first, second, clients = await two_stores(url)
        try:
            platform, _ = await first.create("P", [CPO], "auto")

            def add(letter: str) -> Callable[[Platform], Platform]:
                def change(p: Platform) -> Platform:
                    p.name += letter
                    return p

                return change

            letters = "abcdefghijklmnopqrst"
            await asyncio.gather(
                *(
                    (first if i % 2 else second).update(platform.id, add(letter))
                    for i, letter in enumerate(letters)
                )
            )
            stored = await first.get(platform.id)
            assert stored is not None
            assert sorted(stored.name[1:]) == sorted(letters)
        finally:
            for client in clients:
                await client.aclose()

    run(url, scenario)


def test_status_listeners_hear_of_each_real_status_change_once(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        first, second, clients = await two_stores(url)
        heard: list[tuple[str, str | None, str]] = []

        async def listener(platform: Platform, old: str | None) -> None:
            heard.append((platform.name, old, platform.status))

        first.on_status_change(listener)
        second.on_status_change(listener)
        try:
            platform, _ = await first.create("P", [CPO], "auto")

            def suspend(p: Platform) -> Platform:
                if p.status != SUSPENDED:
                    p.status_before_suspend, p.status = p.status, SUSPENDED
                return p

            def rename(p: Platform) -> Platform:
                p.name = "Q"
                return p

            await asyncio.gather(
                *((first if i % 2 else second).update(platform.id, suspend) for i in range(10)),
                second.update(platform.id, rename),
            )
            assert heard == [("P", None, PLANNED), (heard[1][0], PLANNED, SUSPENDED)]
            stored = await second.get(platform.id)
            assert stored is not None
            assert (stored.name, stored.status, stored.status_before_suspend) == (
                "Q",
                SUSPENDED,
                PLANNED,
            )
            assert stored.status_since is not None
        finally:
            for client in clients:
                await client.aclose()

    run(url, scenario)


def test_an_update_sets_the_outbound_token_with_the_record(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        platform, _ = await store.create("P", [CPO], "auto")

        def connect(p: Platform) -> Platform:
            p.status = CONNECTED
            return p

        await store.update(platform.id, connect, outbound="their token")
        assert await store.outbound_token(platform.id) == "their token"
        # Nothing to change in the record, the token alone.
        await store.update(platform.id, connect, outbound=None)
        assert await store.outbound_token(platform.id) is None
        assert await store.update("no-such-platform", connect) is None

    run(url, scenario)


def test_a_failing_change_stores_nothing(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        platform, _ = await store.create("P", [CPO], "auto")

        def refuse(p: Platform) -> Platform:
            p.name = "changed"
            raise ValueError("no")

        with pytest.raises(ValueError):
            await store.update(platform.id, refuse, outbound="x")
        stored = await store.get(platform.id)
        assert stored is not None and stored.name == "P"
        assert await store.outbound_token(platform.id) is None

    run(url, scenario)


# --- creating all or nothing ------------------------------------------------------------


async def crash(url: str, after: int, action: Callable[[], Awaitable[Any]]) -> bool:
    """Run ``action`` and cut it short (as a crash would) once Redis executed ``after`` of
    its commands; True when it finished before."""
    watcher = Redis.from_url(url)
    try:
        async with watcher.monitor() as monitor:
            task = asyncio.ensure_future(action())
            seen = 0
            async with asyncio.timeout(20):
                while seen < after and not task.done():
                    try:
                        await asyncio.wait_for(monitor.next_command(), 0.2)
                    except TimeoutError:
                        continue
                    seen += 1
            finished = task.done()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return finished
    finally:
        await watcher.aclose()


async def consistent(redis: Redis) -> set[str]:
    """Check what readers see: every platform named by an index exists with its record, and
    a listed platform has its roles and token A. Returns the listed platforms."""
    listed = {text(m) for m in await redis.smembers(keys.platform_ids())}
    for platform_id in listed:
        assert await redis.exists(keys.platform(platform_id))
    owners = {text(v) for v in (await redis.hgetall(keys.party_index())).values()}
    tokens = {text(v).split(" ")[0] for v in (await redis.hgetall(keys.token_index())).values()}
    assert owners <= listed, "a role is granted to a platform that does not exist"
    assert tokens <= listed, "a token names a platform that does not exist"
    assert owners == tokens == listed, "a platform was half created"
    return listed


def test_creating_a_platform_is_all_or_nothing_whenever_it_is_cut_short(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        finished, after = False, 0
        while not finished:
            after += 1
            assert after < 100, "creating a platform takes too many commands"
            await redis.flushdb()
            finished = await crash(url, after, lambda: store.create("P", [CPO, EMSP], "auto"))
            listed = await consistent(redis)
            snapshot = await PlatformStore(redis).load_all()
            assert set(snapshot.platforms) == listed
            if not listed:
                # What a crash left behind is invisible, and blocks nothing.
                again, _ = await store.create("P", [CPO, EMSP], "auto")
                assert await consistent(redis) == {again.id}
        assert after > 3

    run(url, scenario)


def test_a_taken_role_creates_nothing(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        first, _ = await store.create("P", [CPO], "auto")
        with pytest.raises(Exception, match="already granted"):
            await store.create("Q", [EMSP, CPO], "auto")
        assert await consistent(redis) == {first.id}
        assert len(await redis.keys(f"{keys.PREFIX}:{{p:*")) == 2  # record and token of P

    run(url, scenario)


def test_releasing_roles_leaves_another_platforms_alone(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        first, _ = await store.create("P", [CPO], "auto")
        await store.release_roles(first)
        second, _ = await store.create("Q", [CPO], "auto")
        await store.release_roles(first)  # again, e.g. a removal finished twice
        assert (await store.load_all()).granted[CPO] == second.id

    run(url, scenario)


# --- what the store cannot use ------------------------------------------------------------


def test_entries_that_cannot_be_used_are_skipped_with_one_warning(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        platform, _ = await store.create("P", [CPO], "auto")
        # What an older version, a bug or a hand could have left in Redis:
        await redis.hset(keys.party_index(), "NL:A:B:CPO", platform.id)  # party id "A:B"
        await redis.hset(keys.party_index(), "NL:GHO:CPO", "ghost")  # no such platform
        await redis.hset(keys.token_index(), "ab" * 32, "ghost C " + "ab" * 32)
        await redis.hset(keys.token_index(), "cd" * 32, "garbage")
        await redis.sadd(keys.platform_ids(), "broken", "missing")
        await redis.set(keys.platform("broken"), b"{not json")

        with caplog.at_level(logging.WARNING, logger="hub.store"):
            first = await store.load_all()
            second = await store.load_all()
        assert set(first.platforms) == set(second.platforms) == {platform.id}
        assert first.granted == {CPO: platform.id}
        assert {m.platform_id for m in first.tokens.values()} == {platform.id}
        # The store's own: the shared hub, running in this process, logs too.
        warned = [r.getMessage() for r in caplog.records if r.name == "hub.store"]
        assert len(warned) == 5, warned  # once each, not again on the second load
        assert any("NL:A:B:CPO" in w for w in warned)
        assert not any("ab" * 32 in w or "cd" * 32 in w for w in warned), "hashes in the log"

        assert await store.get("broken") is None
        assert [p.id for p in await store.all()] == [platform.id]
        assert await store.lookup_token(["whatever"]) is None

    run(url, scenario)
