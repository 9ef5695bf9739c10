"""A platform's health as its delivering process keeps it (README: "Platform health"): failed
calls in a row make it OFFLINE; an OFFLINE platform gets only probes of its versions until it
answers, queue or no queue; a quiet CONNECTED one gets a keep-alive; the operator's suspend
stops all of it."""

from __future__ import annotations

import asyncio
import base64

from hub.records import CONNECTED, OFFLINE, SUSPENDED
from tests.delivery.harness import Hub, Receiver, hub, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}
VERSIONS = "/ocpi/versions"


async def becomes(h: Hub, platform_id: str, status: str) -> None:
    async def reached() -> bool:
        return await h.status(platform_id) == status

    await until(reached, status)


def test_an_offline_platform_gets_only_probes_until_it_answers(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, offline_after=2, **FAST) as h:
            with Receiver() as receiver:
                receiver.down = True
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    await becomes(h, platform_id, OFFLINE)
                    since = len(receiver.arrived) + 1  # one call may have been under way
                    await until(lambda: asyncio.sleep(0, len(receiver.arrived) >= since + 2), "")
                    assert {r.path for r in receiver.arrived[since:]} == {VERSIONS}
                    receiver.down = False
                    await becomes(h, platform_id, CONNECTED)
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the location")
                # The probe that answered, then what waited.
                taken = [r.path for r in receiver.received][:2]
                assert taken == [VERSIONS, "/ocpi/2.2.1/locations/NL/CPO/L1"]

    asyncio.run(scenario())


def test_an_offline_platform_with_nothing_queued_is_probed_back(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver() as receiver, Receiver() as tokenless:
                platform_id = await h.add_platform("EMA", receiver, status=OFFLINE)
                # The hub holds no token to probe this one with: it stays OFFLINE, uncalled.
                stays = await h.add_platform("EMB", tokenless, status=OFFLINE, token=False)
                async with running(h.deliverer):
                    await becomes(h, platform_id, CONNECTED)
                    await asyncio.sleep(0.5)
                    assert await h.status(stays) == OFFLINE
                (probe,) = receiver.arrived[:1]
                assert (probe.method, probe.path) == ("GET", VERSIONS)
                token = base64.b64encode(b"token-EMA").decode()
                assert probe.headers["authorization"] == f"Token {token}"
                assert tokenless.arrived == []

    asyncio.run(scenario())


def test_a_quiet_platform_gets_a_keep_alive_and_a_busy_one_does_not(redis_url: str) -> None:
    """Keep-alive (2.2.1 "HubClientInfo module"): a GET of the versions of a platform the hub
    has not heard from for keepalive_interval seconds, and then once an interval. A platform
    is first due an interval after it became CONNECTED; one that called meanwhile is due an
    interval after its call."""
    interval = 4.0

    async def scenario() -> None:
        async with hub(redis_url, keepalive_interval=interval, **FAST) as h:
            with Receiver() as quiet, Receiver() as busy:
                quiet_id = await h.add_platform("EMA", quiet)
                busy_id = await h.add_platform("EMB", busy)
                async with running(h.deliverer):
                    await asyncio.sleep(interval / 2)
                    # It calls the hub (the time is kept to the second: at least a second
                    # before the quiet one is due).
                    await h.store.touch(busy_id)
                    await until(lambda: asyncio.sleep(0, quiet.arrived), "a keep-alive")
                    assert busy.arrived == []
                    await until(lambda: asyncio.sleep(0, busy.arrived), "one when it is quiet")
                    await until(lambda: asyncio.sleep(0, len(quiet.arrived) >= 2), "a second")
                assert {(r.method, r.path) for r in quiet.arrived + busy.arrived} == {
                    ("GET", VERSIONS)
                }
                first, second = quiet.arrived[:2]
                assert second.at - first.at >= interval - 0.1
                assert await h.status(quiet_id) == CONNECTED

    asyncio.run(scenario())


def test_a_quiet_platform_whose_keep_alives_fail_goes_offline_and_comes_back(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with hub(redis_url, keepalive_interval=0.2, offline_after=2, **FAST) as h:
            with Receiver() as receiver:
                receiver.down = True
                platform_id = await h.add_platform("EMA", receiver)
                async with running(h.deliverer):
                    await becomes(h, platform_id, OFFLINE)
                    receiver.down = False
                    await becomes(h, platform_id, CONNECTED)
                assert {(r.method, r.path) for r in receiver.arrived} == {("GET", VERSIONS)}

    asyncio.run(scenario())


def test_a_suspended_platform_is_neither_called_nor_probed_until_resumed(redis_url: str) -> None:
    """The operator's suspend wins over the platform's health: an OFFLINE platform suspended
    stays SUSPENDED whatever its versions answer; resumed, it is OFFLINE again, probed, and
    gets what waited for it."""

    async def scenario() -> None:
        async with hub(redis_url, offline_after=1, **FAST) as h:
            with Receiver() as receiver:
                receiver.down = True
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    await becomes(h, platform_id, OFFLINE)
                    await h.lifecycle.suspend(platform_id)
                    await until(lambda: _free(h, platform_id), "the lease to be handed back")
                    receiver.down = False
                    called = len(receiver.arrived)
                    await asyncio.sleep(1.0)
                    assert len(receiver.arrived) == called
                    assert await h.status(platform_id) == SUSPENDED
                    stats = await h.queue.stats(platform_id)
                    assert (stats.depth, stats.dead_letters) == (1, 0)

                    resumed = await h.lifecycle.resume(platform_id)
                    assert resumed.status == OFFLINE
                    await becomes(h, platform_id, CONNECTED)
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "what waited")
                assert [r.path for r in receiver.arrived[called:]][:2] == [
                    VERSIONS,
                    "/ocpi/2.2.1/locations/NL/CPO/L1",
                ]

    asyncio.run(scenario())


async def _free(h: Hub, platform_id: str) -> bool:
    return await h.queue.schedule.holder(platform_id) is None
