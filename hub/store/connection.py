"""Opening the one Redis client of a process."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from hub.store.platforms import RedisClient


def open_redis(url: str, *, cluster: bool) -> RedisClient:
    """A client for ``url``; it connects lazily, so this does no I/O."""
    if cluster:
        return RedisCluster.from_url(url)
    return Redis.from_url(url, health_check_interval=30)
