"""A holder's renewal (``Schedule.renew``) against a real redis-server of the test's own: a hold
another process took is lost; one that was just let go is not (the renewal raced the let-go)."""

from __future__ import annotations

import asyncio

from hub.delivery.schedule import Schedule
from hub.store.connection import open_redis


def test_a_renewal_that_races_the_let_go_loses_nothing(redis_url: str) -> None:
    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        schedule = Schedule(redis)
        try:
            await schedule.mark(["p1"])
            assert [h.platform_id for h in (await schedule.take("a", 10, 10)).held] == ["p1"]
            assert await schedule.renew("a", 10, ["p1"]) == set()  # held: renewed
            await schedule.finish("a", [("p1", 0.0, 0)])  # let go, due again at once
            # The renewal sent before the let-go was known: nobody holds it, nothing is lost.
            assert await schedule.renew("a", 10, ["p1"]) == set()
            assert [h.platform_id for h in (await schedule.take("b", 10, 10)).held] == ["p1"]
            assert await schedule.renew("a", 10, ["p1"]) == {"p1"}  # another holds it now
            assert await schedule.renew("b", 10, ["p1"]) == set()
        finally:
            await redis.aclose()

    asyncio.run(scenario())
