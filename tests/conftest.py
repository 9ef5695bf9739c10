from __future__ import annotations

import itertools
import string
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.hubproc import HubProcess
from tests.inprocess import InProcessHub
from tests.parties import FakePlatform

_ALPHABET = string.ascii_uppercase + string.digits
_party_ids = (f"{a}{b}{c}" for a, b, c in itertools.product(_ALPHABET, repeat=3))


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHub]:
    """One hub shared by the tests that need no hub of their own; each test uses its own
    party ids (``party_id``), so they do not meet. It runs in this process (``tests.inprocess``),
    so that coverage sees the hub's code; ``hub_factory`` makes hubs that run as ``ocpi-hub
    serve`` does."""
    with InProcessHub(tmp_path_factory.mktemp("hub") / "data") as running:
        yield running
    assert_no_crash(running)


def assert_no_crash(hub: HubProcess | InProcessHub) -> None:
    """A hub never meets an exception it did not expect, even after a response was sent."""
    log = hub.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]


@pytest.fixture
def party_id() -> Callable[[], str]:
    """Fresh three-character party ids, unique in the test session."""
    return lambda: next(_party_ids)


@pytest.fixture
def hub_factory(tmp_path: Path) -> Iterator[Callable[..., HubProcess]]:
    """Hubs of a test's own (for restarts, settings); all stopped at the test's end."""
    started: list[HubProcess] = []

    def make(data_dir: Path | None = None, **kwargs: object) -> HubProcess:
        hub = HubProcess(data_dir or tmp_path / "data", **kwargs)  # type: ignore[arg-type]
        started.append(hub)
        return hub

    yield make
    for hub in started:
        hub.stop()
        assert_no_crash(hub)


@pytest.fixture
def platforms() -> Iterator[Callable[..., FakePlatform]]:
    """Start simulated platforms: ``platforms(("NL", "CPA", "CPO"), ...)``; stopped at the end."""
    started: list[FakePlatform] = []

    def make(*roles: tuple[str, str, str], **kwargs: Any) -> FakePlatform:
        fake = FakePlatform(roles=list(roles), **kwargs).start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
