"""Opening the one Redis client of a process, and the edge where Redis errors are translated."""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError

from hub.errors import StoreUnavailable

RedisClient = Redis | RedisCluster


def open_redis(url: str, *, cluster: bool) -> RedisClient:
    """A client for ``url``; it connects lazily, so this does no I/O."""
    if cluster:
        return RedisCluster.from_url(url)
    return Redis.from_url(url, health_check_interval=30)


async def ready(redis: RedisClient) -> None:
    """Let a cluster client learn the slot map before anything (pub/sub included) uses it."""
    if isinstance(redis, RedisCluster):
        await call(redis.initialize())


async def call(command: Any) -> Any:
    """Await one redis-py command (or pipeline execution); its failures become
    ``StoreUnavailable`` here, so that no Redis exception travels further."""
    try:
        return await command
    except (RedisError, OSError) as e:
        raise StoreUnavailable(f"Redis: {e}") from e
