"""Python's cyclic garbage collector in a served hub process: kept off the long-lived heap.

A full (generation 2) collection examines every object the process holds. A hub with 10,000
platforms holds a few hundred thousand long-lived ones (its copy of every platform, the routing
table, the roaming policy), and while it delivered, full collections held its event loop for
~200 ms each, several times a second, finding nothing to free (benchmarks/README.md, "scale.py").

So what has lived a while is moved out of the collector's sight (``gc.freeze``): whenever the
objects that survived into the oldest generation since the last freeze pass ``YOUNG_LIMIT``,
they are collected (in proportion to their number, not to the heap) and frozen. Frozen objects
are still freed when nothing refers to them; only a reference cycle among them would outlive
its use. So every ``FULL_SECONDS`` the frozen objects are given back and the whole heap is
collected once, then frozen again: one pause of the old kind in that time, instead of several
a second.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger("hub.collector")

CHECK_SECONDS = 5.0  # how often the oldest generation is counted (a few ms at most)
YOUNG_LIMIT = 50_000  # objects in the oldest generation, not frozen, that are collected and frozen
FULL_SECONDS = 900.0  # how often everything is collected (cycles among frozen objects)
SLOW_SECONDS = 0.1  # a collection this long is logged


def freeze(*, full: bool) -> float:
    """Collect, then freeze what survived; ``full``: the frozen objects too. Seconds taken."""
    started = time.perf_counter()
    if full:
        gc.unfreeze()
    gc.collect()
    gc.freeze()
    return time.perf_counter() - started


def unfrozen() -> int:
    """How many objects the oldest generation holds (those a full collection would examine)."""
    return len(gc.get_objects(generation=2))


async def run(
    *,
    check_seconds: float = CHECK_SECONDS,
    young_limit: int = YOUNG_LIMIT,
    full_seconds: float = FULL_SECONDS,
) -> None:
    """Freeze what lives long, until cancelled (a background task of a served process; the
    process's objects are frozen when it exits, which costs nothing)."""
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(check_seconds)
        full = time.monotonic() - last_full >= full_seconds
        if not full and unfrozen() < young_limit:
            continue
        took = freeze(full=full)
        if full:
            last_full = time.monotonic()
        level = logging.INFO if took >= SLOW_SECONDS else logging.DEBUG
        log.log(
            level,
            "garbage collection%s took %.0f ms; %d objects frozen",
            " of the whole heap" if full else "",
            took * 1000,
            gc.get_freeze_count(),
        )
