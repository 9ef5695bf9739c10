"""PlatformCache reads again only the platform a change names, in this process and in others
(against a real redis-server of the test's own): the copy it keeps change by change is the one
a full load gives, and a change costs the same however many platforms there are."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hub.errors import StoreUnavailableError
from hub.records import CONNECTED, SUSPENDED, Party, Platform
from hub.store import keys
from hub.store.cache import PlatformCache
from hub.store.embedded import EmbeddedRedis
from hub.store.platforms import PlatformStore, Snapshot, change_message, changed_platform
from tests.store.scenario import run

CPO = Party("NL", "CPA", "CPO")
EMSP = Party("NL", "EMA", "EMSP")
OTHER_CPO = Party("de", "cpb", "CPO")  # stored in one spelling (upper case) by the index

# How long another process may take to hear of a change (polled every 10 ms).
HEARING_SECONDS = 5.0


async def calls(redis: Redis, command: str) -> int:
    """How often the server ran ``command`` so far (all clients)."""
    stats = await redis.info("commandstats")
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


@asynccontextmanager
async def other_process(url: str, redis: Redis) -> AsyncIterator[PlatformCache]:
    """A cache on a client of its own that hears of changes on the channel, as another hub
    process does; yielded once it listens and has made its first (full) load."""
    client = Redis.from_url(url)
    # Reloaded by age never during the test: what it knows, it was told.
    cache = PlatformCache(client, PlatformStore(client), max_age=3600)
    watching = asyncio.create_task(cache.watch())
    try:
        for _ in range(500):
            numsub = await redis.pubsub_numsub(keys.changes())
            if numsub and numsub[0][1] >= 1:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the other process did not subscribe")
        # Let it read the subscription's answer (which marks everything stale) before the
        # first load, so that nothing is marked stale later than that load.
        await asyncio.sleep(0.2)
        await cache.current()
        yield cache
    finally:
        watching.cancel()
        await asyncio.wait({watching}, timeout=10)
        await client.aclose()


async def heard(cache: PlatformCache, expected: Snapshot) -> Snapshot:
    """The cache's copy once it equals ``expected`` (the change notification may take a
    moment), or the last one seen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + HEARING_SECONDS
    seen = await cache.current()
    while seen != expected and loop.time() < deadline:
        await asyncio.sleep(0.01)
        seen = await cache.current()
    return seen


def connected(platform: Platform) -> Platform:
    platform.status = CONNECTED
    return platform


def renamed(platform: Platform) -> Platform:
    platform.name += "!"
    return platform


def removed(platform: Platform) -> Platform:
    platform.deleted, platform.status = True, SUSPENDED
    return platform


def test_a_copy_kept_change_by_change_equals_a_full_load_in_both_processes(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        mine = PlatformCache(redis, store, max_age=3600)
        async with other_process(url, redis) as theirs:
            await mine.current()
            p, _ = await store.create("P", [CPO, EMSP], "auto")
            q, _ = await store.create("Q", [OTHER_CPO], "auto")
            issued: list[str] = []
            taken: list[str] = []

            async def issue_c() -> None:
                issued.append(await store.issue_token(p.id, "C"))

            async def remove_p() -> None:
                # What hub.lifecycle.Lifecycle.remove does to the store.
                stored = await store.update(p.id, removed)
                assert stored is not None
                await store.revoke_tokens(p.id)
                await store.set_outbound_token(p.id, None)
                await store.release_roles(stored)

            async def take_p_roles() -> None:
                r, _ = await store.create("R", [CPO], "auto")  # the role P released
                taken.append(r.id)

            steps: list[Callable[[], Awaitable[object]]] = [
                lambda: store.update(p.id, connected, outbound="token for P"),
                issue_c,
                lambda: store.revoke_tokens(p.id, kinds=("A",)),
                lambda: store.update(q.id, renamed),
                lambda: store.set_outbound_token(q.id, "token for Q"),
                issue_c,
                lambda: store.revoke_token(p.id, issued[0]),
                lambda: store.release_roles(q),
                remove_p,
                take_p_roles,
                lambda: store.update(q.id, renamed, outbound=None),
            ]
            loads = await calls(redis, "smembers")
            for number, step in enumerate(steps):
                await step()
                full = await store.load_all()
                # This process sees its own change at once, without waiting for a message.
                assert await mine.current() == full, f"this process, after step {number}"
                assert await heard(theirs, full) == full, f"other process, after step {number}"
            final = await mine.current()
            assert p.id in final.platforms and final.platforms[p.id].deleted
            assert p.id not in final.outbound and q.id not in final.outbound
            assert {m.platform_id for m in final.tokens.values()} == {q.id, taken[0]}
            assert final.granted == {CPO: taken[0]}  # Q released its role, P's went to R
            # Neither cache loaded everything again: the only full loads were the test's own.
            assert await calls(redis, "smembers") - loads == len(steps)

    run(url, scenario)


def test_a_change_in_one_process_is_the_only_platform_the_other_reads_again(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        many = 2000
        for n in range(many):  # one by one: concurrent grants would retry each other out
            await store.create(f"P{n}", [Party("NL", f"{n:04d}", "CPO")], "auto")
        changed, _ = await store.create("Changed", [EMSP], "auto")
        async with other_process(url, redis) as theirs:
            before = await theirs.current()
            assert len(before.platforms) == many + 1
            gets, hgetalls = await calls(redis, "get"), await calls(redis, "hgetall")
            await store.update(changed.id, renamed, outbound="token")
            expected = await store.load_all()  # GETs every record: counted apart
            gets += 2 * (many + 1)
            hgetalls += 2
            after = await heard(theirs, expected)
            assert after == expected
            assert after.platforms[changed.id].name == "Changed!"
            # The update read the record once; the other process read its record and token
            # (a full load reads 2 x 2001 keys).
            assert await calls(redis, "get") - gets == 1 + 2
            assert await calls(redis, "hgetall") - hgetalls == 1  # its tokens, not the index
            # What it read before is left as it was: a request may still hold it.
            assert before.platforms[changed.id].name == "Changed"
            assert changed.id not in before.outbound

    run(url, scenario)


def test_a_message_that_names_no_platform_reloads_everything(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        platform, _ = await store.create("P", [CPO], "auto")
        async with other_process(url, redis) as theirs:
            # Written by hand (or by an older hub, which announces every change so).
            await redis.hset(keys.party_index(), "NL:EMA:EMSP", platform.id)
            loads = await calls(redis, "smembers")
            await redis.publish(keys.changes(), b"changed")
            expected = await store.load_all()
            assert EMSP in expected.granted
            assert await heard(theirs, expected) == expected
            assert await calls(redis, "smembers") - loads == 2  # the test's and the cache's

    run(url, scenario)


def test_change_messages_name_the_platform() -> None:
    assert changed_platform(change_message("0123abcd4567")) == "0123abcd4567"
    assert changed_platform(change_message("0123abcd4567").decode()) == "0123abcd4567"
    for anything in (b"changed", b"", b"platform:", b"platform:\xff", "changed"):
        assert changed_platform(anything) is None


def test_a_change_whose_reading_failed_is_read_when_redis_is_back(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r")  # short: the restarted server has the same socket
    url = server.start()

    async def scenario() -> None:
        redis = Redis.from_url(url)
        store = PlatformStore(redis)
        cache = PlatformCache(redis, store, max_age=3600)
        try:
            platform, _ = await store.create("P", [CPO], "auto")
            await cache.current()
            await store.update(platform.id, renamed)
            server.stop()
            with pytest.raises(StoreUnavailableError):
                await cache.current()
            assert server.start() == url
            assert (await cache.current()).platforms[platform.id].name == "P!"
        finally:
            await redis.aclose()

    try:
        asyncio.run(scenario())
    finally:
        server.stop()


def test_a_read_during_a_reading_waits_for_it(url: str) -> None:
    """A change, then two readers: the first starts reading the changed platform again; the
    second, coming while that read is under way, gets the new state too, not the copy from
    before the change (a request must see what this process just wrote)."""

    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        cache = PlatformCache(redis, store, max_age=3600)
        platform, _ = await store.create("CPO", [CPO], "auto")
        await cache.current()

        def suspend(record: Platform) -> Platform:
            record.status = SUSPENDED
            return record

        await store.update(platform.id, suspend)
        first = asyncio.create_task(cache.current())
        await asyncio.sleep(0)  # it has taken the change and waits for Redis
        second = await cache.current()
        assert second.platforms[platform.id].status == SUSPENDED
        assert (await first).platforms[platform.id].status == SUSPENDED

    run(url, scenario)


def test_the_cache_tells_which_platforms_changed_since_a_copy(url: str) -> None:
    """What a routing table is rebuilt from: the platforms changed since the copy it was made
    of, or None when that is not known (a full reading came between)."""

    async def scenario(redis: Redis) -> None:
        store = PlatformStore(redis)
        cache = PlatformCache(redis, store, max_age=3600)
        one, _ = await store.create("ONE", [CPO], "auto")
        first = await cache.current()
        assert cache.changed_since(first.version) == set()
        two, _ = await store.create("TWO", [EMSP], "auto")
        await cache.current()
        await store.issue_token(one.id, "C")
        latest = await cache.current()
        assert latest.version > first.version
        assert cache.changed_since(first.version) == {one.id, two.id}
        assert cache.changed_since(latest.version) == set()
        cache.invalidate()  # anything may have changed: a full reading
        await cache.current()
        assert cache.changed_since(latest.version) is None

    run(url, scenario)
