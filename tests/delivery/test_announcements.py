"""HubClientInfo announcements are made off the request path: a status change is only marked in
Redis (the same few commands with 2,000 platforms as with 10), a background task fans it out
later, coalesced (several changes before it runs: one push per listener, of the last status),
durably (one taken by a process that dies is made by another after the lease), and a
registration among N platforms queues about 2N messages, not more."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import pytest

from hub.hubclientinfo import Announcer
from hub.ocpi.versions import Endpoint
from hub.records import CONNECTED, OFFLINE, PLANNED, SUSPENDED, Party, Platform
from hub.store.announcements import Announcements
from hub.store.cache import PlatformCache
from hub.store.embedded import EmbeddedRedis
from hub.store.platforms import Change, PlatformStore
from tests import redisstats
from tests.delivery.harness import Hub, Receiver, hub, running, until

# Commands of the test's own connections (counters reset, read), never the hub's.
OWN = ("config", "info", "client", "hello")
HCI = "/ocpi/2.2.1/hubclientinfo/"


def hub_commands(url: str) -> int:
    """How many commands the hub ran since the last ``redisstats.reset`` (those a Lua script
    runs included)."""
    return sum(n for name, n in redisstats.calls(url).items() if not name.startswith(OWN))


def queued(url: str) -> int:
    """How many messages were queued since the last ``redisstats.reset`` (one XADD each)."""
    return redisstats.calls(url).get("xadd", 0)


def registered(base_url: str, status: str = CONNECTED) -> Change:
    def change(platform: Platform) -> Platform:
        platform.version = "2.2.1"
        platform.registered_by = "platform"
        platform.platform_versions_url = f"{base_url}/ocpi/versions"
        platform.endpoints = [
            Endpoint("hubclientinfo", f"{base_url}/ocpi/2.2.1/hubclientinfo", "RECEIVER")
        ]
        platform.status = status
        return platform

    return change


async def listener(store: PlatformStore, party_id: str, base_url: str) -> str:
    """A registered, CONNECTED eMSP with a hubclientinfo RECEIVER endpoint at ``base_url``."""
    created, _ = await store.create(party_id, [Party.of("NL", party_id, "EMSP")], "auto")
    await store.update(created.id, registered(base_url), outbound=f"token-{party_id}")
    return created.id


async def listeners(store: PlatformStore, first: int, count: int, base_url: str) -> list[str]:
    """``count`` listeners numbered from ``first`` on (party ids 000, 001, ... in base 36)."""
    return [await listener(store, _party(first + i), base_url) for i in range(count)]


def _party(n: int) -> str:
    digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    return digits[n // 1296 % 36] + digits[n // 36 % 36] + digits[n % 36]


@dataclass
class Watched:
    """A hub process's platform store whose status changes are heard by an Announcer (the
    harness's own store has no listener: what it sets up announces nothing)."""

    store: PlatformStore
    announcer: Announcer
    pending: Announcements


def watched(h: Hub, *, lease: float = 60.0, poll_interval: float = 1.0) -> Watched:
    store = PlatformStore(h.redis)
    pending = Announcements(h.redis)
    announcer = Announcer(
        PlatformCache(h.redis, store),
        store,
        h.queue,
        h.deliverer.wake,
        pending,
        lease=lease,
        poll_interval=poll_interval,
    )
    store.on_status_change(announcer.status_changed)
    return Watched(store, announcer, pending)


async def drain(announcer: Announcer) -> int:
    """Announce until nothing is due; how many announcements were made."""
    made = 0
    for _ in range(100):
        taken = await announcer.announce_due()
        if not taken:
            return made
        made += taken
    raise AssertionError("announcements kept coming")


def set_status(status: str) -> Change:
    def change(platform: Platform) -> Platform:
        platform.status = status
        return platform

    return change


def test_a_status_change_costs_the_same_few_commands_with_2000_platforms_as_with_10(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with hub(redis_url) as h:
            w = watched(h)
            # Nobody is contacted: nothing delivers in this test.
            base = "http://127.0.0.1:9"
            subject = await listener(h.store, "SUB", base)

            async def cost() -> tuple[int, int]:
                """Commands for the platform going OFFLINE, then CONNECTED again."""
                spent = []
                for status in (OFFLINE, CONNECTED):
                    redisstats.reset(redis_url)
                    await w.store.update(subject, set_status(status))
                    spent.append(hub_commands(redis_url))
                return spent[0], spent[1]

            await listeners(h.store, 0, 10, base)
            await cost()  # the first loads the mark's script into Redis
            few = await cost()
            await listeners(h.store, 10, 1990, base)
            many = await cost()
            # The record's compare-and-set, the change notification and the mark: nothing that
            # grows with the platforms, and nothing queued yet.
            assert many == few, (few, many)
            assert max(many) <= 15, many
            redisstats.reset(redis_url)
            assert await drain(w.announcer) == 1  # the two changes: one announcement
            assert queued(redis_url) == 2000  # one push to each other listener

    asyncio.run(scenario())


def test_changes_before_the_announcement_are_one_push_of_the_last_status(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, retry_base=0.05, retry_max=0.2) as h:
            w = watched(h)
            with Receiver() as a, Receiver() as b, Receiver() as c:
                for party_id, receiver in (("LSA", a), ("LSB", b), ("LSC", c)):
                    await listener(h.store, party_id, receiver.url)
                subject = await listener(h.store, "SUB", "http://127.0.0.1:9")
                for status in (OFFLINE, CONNECTED, SUSPENDED):
                    await w.store.update(subject, set_status(status))
                redisstats.reset(redis_url)
                assert await drain(w.announcer) == 1
                assert queued(redis_url) == 3  # one message per listener
                async with running(h.deliverer):
                    for receiver in (a, b, c):
                        await until(
                            lambda r=receiver: asyncio.sleep(0, r.paths(HCI)),  # type: ignore[misc]
                            "the announcement",
                        )
                for receiver in (a, b, c):
                    (push,) = [r for r in receiver.received if r.path.startswith(HCI)]
                    assert push.path == f"{HCI}NL/SUB"
                    assert push.body["status"] == SUSPENDED

    asyncio.run(scenario())


def test_an_announcement_taken_by_a_process_that_died_is_made_by_another(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url) as h:
            base = "http://127.0.0.1:9"
            await listeners(h.store, 0, 5, base)
            died, other = watched(h, lease=0.5), watched(h, lease=0.5)
            created, _ = await died.store.create("New", [Party.of("BE", "NEW", "CPO")], "auto")
            # The first process takes it, and dies before it queued anything or said done.
            (taken,) = await died.pending.take(16, 0.5)
            assert taken.platform_id == created.id
            redisstats.reset(redis_url)
            assert await other.announcer.announce_due() == 0  # it is leased
            await until(other.announcer.announce_due, "the lease to run out", timeout=10)
            assert queued(redis_url) == 5  # PLANNED, to each listener
            assert await other.pending.take(16, 0.5) == []  # done

    asyncio.run(scenario())


def test_a_change_marked_while_the_announcement_is_made_is_announced_again(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with hub(redis_url) as h:
            pending = Announcements(h.redis)
            await pending.mark("p1", listing=True)
            (first,) = await pending.take(16, 60)
            assert first.listing
            await pending.mark("p1", listing=False)  # while the first is being made
            assert not await pending.done(first)
            (second,) = await pending.take(16, 60)  # due again at once, lease or not
            # The list the first owed went out with it; the second owes none.
            assert second.mark > first.mark and not second.listing
            assert await pending.done(second)
            assert await pending.take(16, 60) == []

    asyncio.run(scenario())


def test_a_registration_among_n_platforms_queues_about_2n_messages(redis_url: str) -> None:
    async def scenario() -> None:
        n = 300
        async with hub(redis_url) as h:
            w = watched(h)
            base = "http://127.0.0.1:9"
            await listeners(h.store, 0, n, base)
            redisstats.reset(redis_url)
            created, _ = await w.store.create("New", [Party.of("BE", "NEW", "CPO")], "auto")
            assert await drain(w.announcer) == 1
            assert queued(redis_url) == n  # PLANNED, to each listener
            redisstats.reset(redis_url)
            await w.store.update(created.id, registered(base))
            assert await drain(w.announcer) == 1
            # CONNECTED to each listener, and each listener's party to the newcomer.
            assert queued(redis_url) == 2 * n
            platform = await w.store.get(created.id)
            assert platform is not None and platform.status == CONNECTED

            # Created and registered before the task runs: one announcement, 2N messages.
            redisstats.reset(redis_url)
            again, _ = await w.store.create("Two", [Party.of("BE", "TWO", "CPO")], "auto")
            assert again.status == PLANNED
            await w.store.update(again.id, registered(base))
            assert await drain(w.announcer) == 1
            assert queued(redis_url) == 2 * (n + 1)

    asyncio.run(scenario())


def test_a_change_made_by_another_process_is_announced_on_the_next_poll(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url) as h:
            await listeners(h.store, 0, 3, "http://127.0.0.1:9")
            # Only the other process runs the task: the change does not wake it.
            changer, other = watched(h), watched(h, poll_interval=0.2)
            task = asyncio.create_task(other.announcer.run())
            try:
                await asyncio.sleep(0.3)  # it has looked once, found nothing, and waits
                redisstats.reset(redis_url)
                await changer.store.create("New", [Party.of("BE", "NEW", "CPO")], "auto")
                await until(lambda: asyncio.sleep(0, queued(redis_url) == 3), "the pushes", 5)
                assert await other.pending.take(16, 60) == []  # done
            finally:
                task.cancel()
                await asyncio.wait({task}, timeout=10)
            assert task.cancelled()

    asyncio.run(scenario())


def test_announcements_outlive_a_redis_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A short data dir: the restarted server listens on the same unix socket.
    server = EmbeddedRedis(tmp_path / "r")
    url = server.start()

    async def scenario() -> None:
        async with hub(url) as h:
            await listeners(h.store, 0, 3, "http://127.0.0.1:9")
            w = watched(h, poll_interval=0.1)
            task = asyncio.create_task(w.announcer.run())
            try:
                server.stop()
                await asyncio.sleep(0.5)  # several polls fail meanwhile
                assert server.start() == url
                redisstats.reset(url)
                await w.store.create("New", [Party.of("BE", "NEW", "CPO")], "auto")
                await until(lambda: asyncio.sleep(0, queued(url) == 3), "the pushes", 10)
                assert not task.done()
            finally:
                task.cancel()
                await asyncio.wait({task}, timeout=10)

    try:
        with caplog.at_level(logging.WARNING, logger="hub.hubclientinfo"):
            asyncio.run(scenario())
    finally:
        server.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.hubclientinfo"]
    assert any(w.startswith("HubClientInfo announcements wait: Redis: ") for w in warnings)
    # Redis errors are expected: none of them is logged as unexpected (with a traceback).
    assert not [r for r in caplog.records if r.exc_info], "an unexpected error"
