"""Many platforms per Redis round trip: the platforms taken together are read together (one
pipeline for all their batches, ``Queue.batches``), and the platforms that finish together are
let go together (one pipeline for all their acknowledgements, then one script for the ends of
all their holds, ``Queue.settle``).

A ``Collector`` gathers requests and flushes them as soon as the previous flush has returned.
There is no timer: a lone request waits one turn of the event loop, not a period; under load,
the requests made while a flush was under way go together in the next one. Each request still
learns its own outcome: one platform's failure is not another's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

from hub.errors import HubError

log = logging.getLogger("hub.delivery")

Item = TypeVar("Item")
Answer = TypeVar("Answer")


class Collector(Generic[Item, Answer]):
    def __init__(
        self,
        flush: Callable[[list[Item]], Awaitable[list[Answer | HubError]]],
        *,
        limit: int,
        what: str,
    ) -> None:
        """``flush``: does the items, returns for each its answer or its error; ``limit``: at
        most so many items a flush; ``what``: the flush's name in the log."""
        self._flush = flush
        self._limit = limit
        self._what = what
        self._waiting: list[tuple[Item, asyncio.Future[Answer]]] = []
        self._ready = asyncio.Event()
        self._open = True

    def submit(self, item: Item) -> asyncio.Future[Answer]:
        """The answer to ``item`` once a flush has had it (or the error that kept it from
        being done). The item is flushed even if its future is cancelled meanwhile."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        future.add_done_callback(_retrieved)
        if self._open:
            self._waiting.append((item, future))
            self._ready.set()
        else:
            future.set_exception(HubError(f"{self._what}: delivery has stopped"))
        return future

    async def run(self) -> None:
        """Flush what was submitted, until cancelled; what is left then fails."""
        self._open = True
        flushing: list[tuple[Item, asyncio.Future[Answer]]] = []
        try:
            while True:
                await self._ready.wait()
                self._ready.clear()
                flushing = self._waiting[: self._limit]
                del self._waiting[: self._limit]
                if self._waiting:
                    self._ready.set()
                answers = await self._flushed([item for item, _ in flushing])
                for (_, future), answer in zip(flushing, answers, strict=True):
                    if future.done():  # its waiter gave up
                        continue
                    if isinstance(answer, HubError):
                        future.set_exception(answer)
                    else:
                        future.set_result(answer)
                flushing = []
        finally:
            self._open = False
            stopped = HubError(f"{self._what}: delivery has stopped")
            for _, future in flushing + self._waiting:
                if not future.done():
                    future.set_exception(stopped)
            self._waiting = []

    async def _flushed(self, items: list[Item]) -> list[Answer | HubError]:
        """The answers of one flush; a flush that fails fails each of its items (and this
        loop goes on)."""
        try:
            return await self._flush(items)
        except HubError as e:
            return [e] * len(items)
        except Exception as e:
            log.error("%s failed unexpectedly", self._what, exc_info=e)
            return [HubError(f"{self._what} failed unexpectedly: {e!r}")] * len(items)


def _retrieved(future: asyncio.Future[Any]) -> None:
    """An error nobody waits for any more (a waiter that gave up) is not worth a warning."""
    if not future.cancelled():
        future.exception()
