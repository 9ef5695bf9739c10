from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.store.embedded import EmbeddedRedis


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A redis-server of the test's own."""
    with EmbeddedRedis(tmp_path / "data") as server:
        yield server.url
