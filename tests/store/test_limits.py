"""Rate limits shared by every process (hub.store.limits), against a Redis of the test's own."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from hub.rates import Rate
from hub.store.limits import RateLimits
from tests.store.scenario import run


def test_a_burst_of_the_whole_limit_passes_then_the_next_call_waits(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        limits = RateLimits(redis)
        rate = Rate(10, 60)  # one every 6 s, ten at once
        waits = [await limits.take("p1", "locations", rate) for _ in range(10)]
        assert waits == [0.0] * 10
        wait = await limits.take("p1", "locations", rate)
        assert 5.0 < wait <= 6.0
        # Each module and each platform has its own budget.
        assert await limits.take("p1", "tariffs", rate) == 0.0
        assert await limits.take("p2", "locations", rate) == 0.0

    run(url, scenario)


def test_the_budget_comes_back_at_the_steady_rate(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        limits = RateLimits(redis)
        rate = Rate(2, 1)  # one every 0.5 s
        assert [await limits.take("p", "cdrs", rate) for _ in range(2)] == [0.0, 0.0]
        assert await limits.take("p", "cdrs", rate) > 0
        await asyncio.sleep(0.6)
        assert await limits.take("p", "cdrs", rate) == 0.0
        assert await limits.take("p", "cdrs", rate) > 0

    run(url, scenario)


def test_two_processes_share_one_budget(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        other = Redis.from_url(url)
        try:
            first, second = RateLimits(redis), RateLimits(other)
            # One a day after the hundred at once: however slow the machine, no call of this
            # test is allowed by the budget refilling (at 100/min one came back every 0.6 s,
            # and a loaded CI run took longer than that).
            rate = Rate(100, 86_400)
            results = await asyncio.gather(
                *((first if i % 2 else second).take("shared", "tokens", rate) for i in range(150))
            )
            assert sum(1 for wait in results if wait == 0.0) == 100
        finally:
            await other.aclose()

    run(url, scenario)
