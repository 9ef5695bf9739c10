"""Each platform's retry clock, as its delivering process keeps it.

One clock per platform, not one per message: every failed attempt at a platform (a push, a
probe of its versions while it is OFFLINE, a keep-alive) counts as a failure in a row, and the
next attempt of any kind waits ``backoff(failures)``. So an OFFLINE platform is probed with
exponential backoff up to ``retry_max`` however many messages wait for it (README: "Platform
health"), and a delivery that succeeds resets the clock.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

# A generator of the hub's own: the global one is the host program's (the hub also runs inside
# other programs, through create_app), and drawing from it changes their random sequence.
_jitter = random.Random()


def backoff(failures: int, base: float, ceiling: float) -> float:
    """The delay after the ``failures``-th failure in a row: exponential from ``base`` up to
    ``ceiling``, with "equal jitter" (a random delay in [d/2, d]): a crowd of retries does not
    come back at once, and the lower bound keeps the number of attempts predictable."""
    delay = min(ceiling, base * 2 ** min(max(failures, 1) - 1, 30))
    return _jitter.uniform(delay / 2, delay)


@dataclass
class Clock:
    """One platform's failures in a row and when it may be tried next (monotonic seconds)."""

    failures: int = 0
    next_try: float = 0.0
    keepalive_at: float = 0.0  # when the platform last answered a keep-alive (monotonic)

    def failed(self, base: float, ceiling: float) -> None:
        self.failures += 1
        self.next_try = time.monotonic() + backoff(self.failures, base, ceiling)

    def succeeded(self) -> None:
        self.failures = 0
        self.next_try = 0.0

    def wait(self) -> float:
        """Seconds until the platform may be tried again (0: now)."""
        return max(0.0, self.next_try - time.monotonic())
