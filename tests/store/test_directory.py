"""Directory (who owns what, for open routing) against a real redis-server of the test's own."""

from __future__ import annotations

import asyncio
from pathlib import Path

from redis.asyncio import Redis

from hub.store import keys
from hub.store.directory import Directory
from hub.store.embedded import EmbeddedRedis


def test_entries_it_cannot_read_are_skipped(tmp_path: Path) -> None:
    async def scenario(url: str) -> list[object]:
        redis = Redis.from_url(url)
        try:
            directory = Directory(redis)
            await directory.remember("session", "S1", ("NL", "CPA"), ("DE", "EMB"), ttl=60)
            # A party id with a colon, stored by a version that let it through.
            await redis.sadd(keys.owners("session", "S1"), "NL:A:B>DE:EMB", "junk")
            return list(await directory.recall("session", "S1"))
        finally:
            await redis.aclose()

    with EmbeddedRedis(tmp_path / "redis") as server:
        found = asyncio.run(scenario(server.url))
    assert found == [(("NL", "CPA"), ("DE", "EMB"))]
