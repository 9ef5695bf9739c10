"""The operator's view of the queues (``Queue.overview``: GET /admin/queues and the queue gauges)
reads only the queues that may hold something, and says the same as reading every queue
(against a real redis-server of the test's own)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from hub.delivery.messages import Message, QueueStats
from hub.delivery.queue import Queue
from hub.store import keys
from hub.store.connection import open_redis

EMPTY = QueueStats(depth=0, oldest_age=None, dead_letters=0)


def message(n: int) -> Message:
    return Message(
        module="locations",
        interface="RECEIVER",
        method="PUT",
        path=f"NL/CPO/L{n}",
        object=f"locations:NL/CPO/L{n}",
        full_state=True,
        correlation_id=f"c-{n}",
        enqueued_at=time.time(),
    )


def shape(stats: dict[str, QueueStats]) -> dict[str, tuple[int, bool, int]]:
    return {p: (s.depth, s.oldest_age is None, s.dead_letters) for p, s in stats.items()}


async def xlen_calls(redis: Any) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_xlen", {}).get("calls", 0))


def test_only_queues_that_may_hold_something_are_read_and_the_view_is_whole(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        queue = Queue(redis)
        try:
            # "busy": queued, so due. "parked": one message, parked (a dead letter only).
            # "paused": queued for a platform that is not delivered now (suspended), so
            # unscheduled. The 200 others never had anything.
            await queue.put([("busy", message(1)), ("busy", message(2))])
            (entry,) = await queue.put([("parked", message(3))])
            await queue.park("parked", entry, message(3), "refused", 1)
            await queue.schedule.forget("parked")  # nothing left to deliver
            await queue.put([("paused", message(4))])
            await queue.schedule.forget("paused")
            quiet = [f"quiet-{i}" for i in range(200)]
            platforms = [("busy", True), ("parked", True), ("paused", False)]
            platforms += [(p, True) for p in quiet]

            before = await xlen_calls(redis)
            seen = await queue.overview(platforms)
            read = await xlen_calls(redis) - before

            everything = await queue.stats_of([p for p, _ in platforms])
            # The same view as reading every queue (ages grow meanwhile) ...
            assert shape(seen) == shape(everything)
            assert read <= 2 * 3  # ... from the 3 queues that may hold something
            assert (seen["busy"].depth, seen["parked"].dead_letters) == (2, 1)
            assert (seen["parked"].depth, seen["paused"].depth) == (0, 1)
            assert seen["quiet-7"] == EMPTY
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_the_sweep_finds_dead_letters_the_list_of_them_lost(redis_url: str) -> None:
    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        queue = Queue(redis)
        try:
            (entry,) = await queue.put([("p1", message(1))])
            await queue.park("p1", entry, message(1), "refused", 1)
            await queue.schedule.forget("p1")
            await redis.delete(keys.delivery_parked())  # as a crash between the two writes
            assert (await queue.overview([("p1", True)]))["p1"].dead_letters == 0
            await queue.sweep(["p1"])
            assert (await queue.overview([("p1", True)]))["p1"].dead_letters == 1
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_a_redrive_that_empties_the_dead_letters_leaves_the_list(redis_url: str) -> None:
    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        queue = Queue(redis)
        try:
            (entry,) = await queue.put([("p1", message(1))])
            await queue.park("p1", entry, message(1), "refused", 1)
            assert await redis.sismember(keys.delivery_parked(), "p1")
            assert await queue.redrive("p1") == (1, 0)
            assert not await redis.sismember(keys.delivery_parked(), "p1")
            seen = (await queue.overview([("p1", True)]))["p1"]
            assert (seen.depth, seen.dead_letters) == (1, 0)  # queued again, due again
        finally:
            await redis.aclose()

    asyncio.run(scenario())
