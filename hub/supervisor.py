"""Background tasks that must run as long as the hub does (the delivery loop, the listener for
other processes' changes, ...).

A task that fails is logged and started again after a backoff, instead of taking the process's
clients down with it while the server goes on answering. While a task is waiting to be started
again it is *down*, and the hub answers ``/readyz`` with 503 (README: "Health"). On shutdown the
tasks are cancelled and awaited for a bounded time, so that a stuck task cannot hold the process.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger("hub.supervisor")

TaskFactory = Callable[[], Coroutine[Any, Any, None]]
# Waits before start number ``failures + 1`` of a task that failed ``failures`` times in a row.
Backoff = Callable[[int], Awaitable[None]]

FIRST_DELAY = 0.5
LONGEST_DELAY = 30.0
# A task that ran this long before it failed starts over from the first delay.
HEALTHY_AFTER = 60.0


async def exponential_backoff(failures: int) -> None:
    await asyncio.sleep(min(LONGEST_DELAY, FIRST_DELAY * 2 ** min(failures - 1, 16)))


class Supervisor:
    def __init__(self, *, backoff: Backoff = exponential_backoff) -> None:
        self._backoff = backoff
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._down: set[str] = set()

    def start(self, name: str, factory: TaskFactory) -> None:
        """Run ``factory()`` now, and again whenever it fails or ends, until ``stop``."""
        if name in self._tasks:
            raise ValueError(f"a background task named {name!r} runs already")
        self._tasks[name] = asyncio.create_task(self._keep(name, factory), name=name)

    def down(self) -> list[str]:
        """The tasks that failed and wait to be started again."""
        return sorted(self._down)

    async def _keep(self, name: str, factory: TaskFactory) -> None:
        failures = 0
        while True:
            started = time.monotonic()
            try:
                await factory()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background task %s failed; it will be restarted", name)
            else:
                log.error("background task %s ended; it will be restarted", name)
            failures = 1 if time.monotonic() - started >= HEALTHY_AFTER else failures + 1
            self._down.add(name)
            await self._backoff(failures)
            self._down.discard(name)
            log.info("background task %s restarted", name)

    async def stop(self, timeout: float) -> None:
        """Cancel every task and wait at most ``timeout`` seconds for them to end."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        if pending:
            # They are left behind: the process is ending, and waiting longer would hold it.
            names = ", ".join(sorted(t.get_name() for t in pending))
            log.warning("background tasks did not stop within %g s: %s", timeout, names)
