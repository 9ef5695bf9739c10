"""The hub's Redis client holds many blocking reads at once (one per receiving platform)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.delivery.queue import Queue
from hub.store.connection import open_redis
from hub.store.embedded import EmbeddedRedis


def test_two_hundred_platforms_can_wait_on_their_queues_at_once(tmp_path: Path) -> None:
    async def scenario(url: str) -> list[object]:
        redis = open_redis(url, cluster=False)
        queue = Queue(redis)
        try:
            for n in range(200):
                await queue.claim(f"p{n}", "me")
            waits = [queue.read(f"p{n}", "me", count=1, block_ms=300) for n in range(200)]
            # And the other traffic goes on meanwhile.
            pinged = redis.ping()
            return list(await asyncio.gather(*waits, pinged))
        finally:
            await redis.aclose()

    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        found = asyncio.run(scenario(redis_server.url))
    assert found[:-1] == [[]] * 200
    assert found[-1] is True
