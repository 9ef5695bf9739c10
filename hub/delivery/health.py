"""The backoff of a platform's retries.

One clock per platform, not one per message: every failed attempt at a platform (a push, a
probe of its versions while it is OFFLINE, a keep-alive) counts as a failure in a row, and the
next attempt of any kind waits ``backoff(failures)``. So an OFFLINE platform is probed with
exponential backoff up to ``retry_max`` however many messages wait for it (README: "Platform
health"), and a delivery that succeeds resets the count. The count is kept in Redis
(``hub.delivery.schedule``), so that every hub process follows the same clock.
"""

from __future__ import annotations

import random

# A generator of the hub's own: the global one is the host program's (the hub also runs inside
# other programs, through create_app), and drawing from it changes their random sequence.
_jitter = random.Random()


def backoff(failures: int, base: float, ceiling: float) -> float:
    """The delay after the ``failures``-th failure in a row: exponential from ``base`` up to
    ``ceiling``, with "equal jitter" (a random delay in [d/2, d]): a crowd of retries does not
    come back at once, and the lower bound keeps the number of attempts predictable."""
    delay = min(ceiling, base * 2 ** min(max(failures, 1) - 1, 30))
    return _jitter.uniform(delay / 2, delay)
