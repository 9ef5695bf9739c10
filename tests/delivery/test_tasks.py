"""The Deliverer owns its tasks: cancelling it stops all of them within a bound (Redis
answering or not), and a platform whose task meets an unexpected error is logged, handed back
and left alone for a backoff period, without stopping the others."""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import ExitStack

import pytest

from hub.delivery.stopping import STOP_SECONDS
from hub.delivery.worker import BATCH
from hub.store import keys
from tests.delivery.harness import Hub, Receiver, hub, until

# Three platforms, each busy in another way when the Deliverer is cancelled: a call in flight
# that the receiver holds, retries of a receiver that is down, nothing queued.
# It stops within STOP_SECONDS (about RELEASE_SECONDS while Redis does not answer); redis-py
# alone would hold it for its socket timeout (5 s) then.
STOPPING_BOUND = STOP_SECONDS + 1.5


async def start_busy(h: Hub, stack: ExitStack) -> tuple[asyncio.Task[None], list[str]]:
    holding, down, idle = (stack.enter_context(Receiver()) for _ in range(3))
    holding.hang.set()
    down.down = True
    ids = [await h.add_platform(p, r) for p, r in (("EMH", holding), ("EMD", down), ("EMI", idle))]
    await h.push(ids[0], "L-HELD")
    await h.push(ids[1], "L-DOWN")
    task = asyncio.create_task(h.deliverer.run(), name="delivery")

    async def busy() -> bool:
        held = await h.queue.schedule.holder(ids[0]) == h.deliverer.consumer
        return held and holding.paths() != [] and len(down.tried()) >= 2

    await until(busy, "every platform being served")
    return task, ids


async def stop(task: asyncio.Task[None]) -> float:
    """Cancel ``task``; how long it took to finish (it must, within a minute at worst)."""
    started = time.monotonic()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=60)
    assert done, "the Deliverer did not stop"
    assert task.cancelled()
    return time.monotonic() - started


def leftover_tasks() -> set[asyncio.Task[object]]:
    current = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not current}


def test_cancelling_stops_every_task_and_hands_the_leases_back(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, retry_base=0.05, retry_max=0.2) as h:
            with ExitStack() as stack:
                task, ids = await start_busy(h, stack)
                assert await stop(task) < STOPPING_BOUND
                assert leftover_tasks() == set()
                assert [await h.queue.schedule.holder(i) for i in ids] == [None] * 3

    asyncio.run(scenario())


def test_cancelling_stops_within_a_bound_while_redis_does_not_answer(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, retry_base=0.05, retry_max=0.2) as h:
            with ExitStack() as stack:
                task, _ = await start_busy(h, stack)
                # Redis stops answering everyone (a real pause, for longer than the bound): the
                # leases cannot be handed back, they will expire by themselves.
                await h.redis.execute_command("CLIENT", "PAUSE", "20000", "ALL")
                assert await stop(task) < STOPPING_BOUND
                assert leftover_tasks() == set()

    asyncio.run(scenario())


def most_takes(elapsed: float, base: float, ceiling: float) -> int:
    """How often a failing platform can be taken within ``elapsed`` seconds when the n-th
    pause after a failure lasts at least half of min(ceiling, base * 2**(n-1))."""
    takes, spent = 1, 0.0
    while True:
        spent += min(ceiling, base * 2 ** (takes - 1)) / 2
        if spent > elapsed:
            return takes
        takes += 1


def test_an_unexpected_error_stays_with_its_platform(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A record the code never expects (a newest-state index entry that is not a stream id,
    read when a whole batch is taken) makes one platform's task fail each time it is taken;
    the others deliver on."""
    base, ceiling, window = 1.0, 8.0, 4.0

    async def scenario() -> None:
        async with hub(redis_url, retry_base=base, retry_max=ceiling) as h:
            with Receiver() as broken_receiver, Receiver() as receiver:
                broken = await h.add_platform("EMX", broken_receiver)
                fine = await h.add_platform("EMF", receiver)
                await h.push(broken, *[f"L-X{i}" for i in range(BATCH)])
                await h.redis.hset(keys.queue_latest(broken), "locations:NL/CPO/L-X0", "garbage")
                await h.push(fine, "L-1")
                started = time.monotonic()
                task = asyncio.create_task(h.deliverer.run(), name="delivery")
                try:
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the first push")
                    # Delivery to the other platform goes on, also for what comes later.
                    await h.push(fine, "L-2")
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) == 2), "L-2")
                    # The broken one's lease is handed back while it rests.
                    await until(lambda: _free(h, broken), "the lease to be handed back")
                    await asyncio.sleep(max(0.0, window - (time.monotonic() - started)))
                    assert not task.done()
                    entry, *_ = await h.redis.xpending_range(
                        keys.queue(broken), "delivery", "-", "+", 10
                    )
                    takes = most_takes(time.monotonic() - started, base, ceiling)
                finally:
                    task.cancel()
                    await asyncio.wait({task}, timeout=30)
                # Taken again only after growing pauses. Redis counts a take once when it is
                # read first, twice after (claimed, then read from the pending entries).
                assert 1 <= int(entry["times_delivered"]) <= 2 * takes - 1
                assert broken_receiver.paths() == []
                assert receiver.paths() == [
                    "/ocpi/2.2.1/locations/NL/CPO/L-1",
                    "/ocpi/2.2.1/locations/NL/CPO/L-2",
                ]
        failures = [
            r
            for r in caplog.records
            if r.name == "hub.delivery" and r.levelno == logging.ERROR and broken in r.getMessage()
        ]
        assert 1 <= len(failures) <= takes, "each failure is logged once, with the platform's id"
        assert all(r.exc_info for r in failures)

    asyncio.run(scenario())


async def _free(h: Hub, platform_id: str) -> bool:
    return await h.queue.schedule.holder(platform_id) is None
