"""A Redis of the store tests' own, one per test module (``tests.store.scenario.run`` empties it
before each scenario)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.store.embedded import EmbeddedRedis


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedRedis(tmp_path_factory.mktemp("store") / "data") as srv:
        yield srv.url
