"""Waiting and stopping tasks without losing a cancellation (the delivery's loops and tasks).

On Python 3.11 asyncio.timeout and asyncio.wait_for can lose a cancellation that lands as they
finish; a worker that loses its cancellation does not stop. asyncio.wait never swallows the
caller's cancellation: these helpers are built on it. Libraries still use wait_for (redis-py
around every send), so stopping a task cancels it again as long as it runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from typing import Any

from hub.errors import HubError

log = logging.getLogger("hub.delivery")

STOP_SECONDS = 2.5  # how long stopping waits for tasks; they are cancelled again meanwhile
RECANCEL_SECONDS = 0.1


def warn(what: str, error: Exception) -> None:
    """Log a failure a loop outlives: a warning for the hub's own errors (Redis away, a
    platform that does not answer), an error with its traceback for anything else."""
    if isinstance(error, HubError):
        log.warning("%s: %s", what, error.message)
    else:
        log.error("%s unexpectedly", what, exc_info=error)


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Until ``event`` is set or ``seconds`` have passed, whichever comes first."""
    if event.is_set():
        return
    waiter = asyncio.create_task(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=seconds)
    finally:
        await stop({waiter})


async def stop(tasks: Collection[asyncio.Task[Any]], grace: float = 0.0) -> None:
    """Cancel tasks of ours and wait until they have finished, for at most ``STOP_SECONDS``.

    A task still running after ``grace`` seconds is cancelled again every ``RECANCEL_SECONDS``,
    and so is one started meanwhile (``tasks`` may be a live set): a lost cancellation delays
    the stop by a moment, not for good. Their outcomes are dropped."""
    started = time.monotonic()
    for task in list(tasks):
        task.cancel()
    while time.monotonic() - started < STOP_SECONDS:
        pending = {task for task in tasks if not task.done()}
        if not pending:
            break
        await asyncio.wait(pending, timeout=RECANCEL_SECONDS)
        if time.monotonic() - started >= grace:
            for task in pending:
                task.cancel()
    for task in list(tasks):
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a failure while stopping is not worth a warning
