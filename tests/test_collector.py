"""The served process's garbage collector (hub.server.collector): long-lived objects are frozen
out of full collections, and cycles among them are still freed by the periodic full one.

Each test runs in a fresh interpreter: freezing is process-wide, and the test process's own
heap must stay as it is."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_what_lives_long_is_frozen_once_enough_of_it_reached_the_oldest_generation() -> None:
    out = run_python(
        """
        import asyncio, gc
        from hub.server import collector

        async def main():
            kept = [[i] for i in range(5_000)]  # long-lived containers
            gc.collect()  # now in the oldest generation
            task = asyncio.create_task(
                collector.run(check_seconds=0.01, young_limit=1_000, full_seconds=3600)
            )
            for _ in range(500):
                await asyncio.sleep(0.01)
                if gc.get_freeze_count() >= len(kept):
                    break
            task.cancel()
            print(gc.get_freeze_count() >= len(kept), collector.unfrozen() < 1_000)

        asyncio.run(main())
        """
    )
    assert out == "True True"


def test_below_the_limit_nothing_is_frozen() -> None:
    out = run_python(
        """
        import asyncio, gc
        from hub.server import collector

        async def main():
            gc.collect()
            task = asyncio.create_task(
                collector.run(check_seconds=0.01, young_limit=10**9, full_seconds=3600)
            )
            await asyncio.sleep(0.2)
            task.cancel()
            print(gc.get_freeze_count())

        asyncio.run(main())
        """
    )
    assert out == "0"


def test_a_cycle_that_was_frozen_is_freed_by_the_full_collection() -> None:
    out = run_python(
        """
        import gc, weakref
        from hub.server import collector

        class Node:
            pass

        a, b = Node(), Node()
        a.other, b.other = b, a  # a reference cycle: only the collector frees it
        gone = weakref.ref(a)
        collector.freeze(full=False)
        del a, b
        collector.freeze(full=False)
        after_young = gone() is None  # frozen: out of sight of a collection
        collector.freeze(full=True)
        print(after_young, gone() is None, gc.get_freeze_count() > 0)
        """
    )
    assert out == "False True True"
