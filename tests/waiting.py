"""Waiting in tests for something another process does, bounded in time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


def wait_for(check: Callable[[], Any], what: str = "it", *, timeout: float = 20.0) -> Any:
    """``check()``'s first true value, polled until ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_for_async(
    check: Callable[[], Awaitable[Any]], what: str = "it", *, timeout: float = 20.0
) -> Any:
    """``wait_for`` for a check that must be awaited, in the test's event loop."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
