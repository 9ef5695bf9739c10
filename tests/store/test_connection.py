"""The hub's Redis client holds a bounded number of connections, whatever the load: commands
beyond them wait for a free one instead of failing or opening more."""

from __future__ import annotations

import asyncio
from pathlib import Path

from hub.delivery.queue import Queue
from hub.store.connection import MAX_CONNECTIONS, open_redis
from hub.store.embedded import EmbeddedRedis


def test_a_thousand_commands_at_once_share_a_bounded_pool(tmp_path: Path) -> None:
    async def scenario(url: str) -> tuple[list[object], int]:
        redis, observer = open_redis(url, cluster=False), open_redis(url, cluster=False)
        queue = Queue(redis)
        try:
            # Slow commands, so that they overlap: each holds its connection a moment.
            work = [redis.execute_command("DEBUG", "SLEEP", "0.002") for _ in range(500)]
            work += [queue.batch(f"p{n}", "me", 10) for n in range(500)]
            results = await asyncio.gather(*work)
            info = await observer.info("clients")
            return list(results), int(info["connected_clients"])
        finally:
            await redis.aclose()
            await observer.aclose()

    with EmbeddedRedis(tmp_path / "redis") as redis_server:
        results, clients = asyncio.run(scenario(redis_server.url))
    assert results[500:] == [([], False)] * 500
    # The hub's pool (at most 64 per process: README "Delivery at scale") and the observer's.
    assert MAX_CONNECTIONS <= 64
    assert clients <= MAX_CONNECTIONS + 1
