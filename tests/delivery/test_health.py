"""The per-platform retry delays: exponential, capped, never below half."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from hub.delivery.health import backoff


@given(
    failures=st.integers(min_value=0, max_value=10_000),
    base=st.floats(min_value=0.001, max_value=10),
    ceiling=st.floats(min_value=0.001, max_value=3600),
)
def test_a_delay_is_between_half_and_all_of_the_capped_exponential(
    failures: int, base: float, ceiling: float
) -> None:
    delay = min(ceiling, base * 2 ** min(max(failures, 1) - 1, 30))
    assert delay / 2 <= backoff(failures, base, ceiling) <= delay


def test_the_jitter_leaves_the_global_random_alone() -> None:
    """``create_app`` also runs inside other programs (this test suite, for one): the hub's
    jitter comes from a generator of its own, so the global ``random`` sequence stays the host's.
    Hypothesis, for one, fails a test during which anything draws from it."""
    random.seed(7)
    expected = random.random()
    random.seed(7)
    backoff(3, 0.5, 60.0)
    assert random.random() == expected
