"""Hubs of a test's own, in this process (``tests.inprocess``): for tests that need settings of
their own (short timeouts, small limits) or a hub no other test has touched, where the shared
``hub`` fixture will not do. ``hub_factory`` makes hubs that run as ``ocpi-hub serve`` does."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.inprocess import InProcessHub


@contextmanager
def own_hub(data_dir: Path, **settings: Any) -> Iterator[InProcessHub]:
    """A hub with ``settings`` (fields of ``hub.settings.Settings``), stopped at the end; like
    every hub of the tests, it must never log a traceback."""
    with InProcessHub(data_dir, **settings) as hub:
        yield hub
    log = hub.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
