"""Running a store test's scenario against the module's Redis (the ``url`` fixture)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis


def run(url: str, scenario: Callable[[Redis], Awaitable[None]]) -> None:
    """``scenario`` with a client of an emptied Redis, in an event loop of its own."""

    async def main() -> None:
        redis = Redis.from_url(url)
        try:
            await redis.flushdb()
            await scenario(redis)
        finally:
            await redis.aclose()

    asyncio.run(main())
