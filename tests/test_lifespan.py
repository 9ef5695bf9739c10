"""The app's lifespan, in process: ``create_app`` under a real uvicorn on 127.0.0.1 (in a thread
of its own) with a real Redis. Background tasks are supervised: one that fails makes the hub
unready until it runs again, and takes nothing down with it; shutdown closes every connection
and waits a bounded time for the tasks."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import uvicorn
from starlette.applications import Starlette

from hub.app import create_app
from hub.settings import Settings
from hub.store.embedded import EmbeddedRedis
from hub.supervisor import TaskFactory
from tests import client
from tests.parties import FakePlatform, b64, free_port

ADMIN = "lifespan-admin-token"
POLL = 0.02


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    with EmbeddedRedis(tmp_path / "redis") as server:
        yield server.url


def until(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(POLL)


async def wait_for(flag: threading.Event, timeout: float = 60.0) -> None:
    """Wait in the hub's loop for the test thread to set ``flag``."""
    deadline = time.monotonic() + timeout
    # Polled: the flag is set from the test's thread, which cannot set an asyncio.Event.
    while not flag.is_set() and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(POLL)


class Served:
    def __init__(self, app: Starlette, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        # The asyncio loop, not uvloop: closing a uvloop closes the sockets left open, which would
        # hide a connection the hub forgot to close.
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="hub-in-process")

    def readyz(self) -> tuple[int, Any]:
        status, _, body = client.request("GET", f"{self.url}/readyz", timeout=5)
        return status, body

    def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        status, _, answer = client.request(
            method, f"{self.url}/admin{path}", body=body, headers=headers
        )
        return status, answer

    def stop(self) -> float:
        """Stop the server; returns how long it took."""
        started = time.monotonic()
        self.server.should_exit = True
        self.thread.join(60)
        assert not self.thread.is_alive(), "the hub did not stop"
        return time.monotonic() - started


@contextmanager
def serving(redis_url: str, **options: Any) -> Iterator[Served]:
    port = free_port()
    settings = Settings(
        port=port,
        redis_url=redis_url,
        admin_token=ADMIN,
        shutdown_timeout=options.pop("shutdown_timeout", 10.0),
        allow_private_urls=True,
        handshake_timeout=5,
    )
    served = Served(create_app(settings, **options), port)
    served.thread.start()
    try:
        until(lambda: served.server.started, "the hub to start")
        until(lambda: served.readyz()[0] == 200, "the hub to be ready")
        yield served
    finally:
        if served.thread.is_alive():
            served.stop()


def hub_connections(redis_url: str) -> int:
    """Clients connected to the test's Redis, the one asking left out."""
    with redis.Redis.from_url(redis_url) as r:
        return len(r.client_list()) - 1


class FailsOnce:
    """A background task that fails when the test says so, and runs quietly once restarted."""

    def __init__(self) -> None:
        self.fail = threading.Event()
        self.starts = 0

    async def __call__(self) -> None:
        self.starts += 1
        if self.starts == 1:
            await wait_for(self.fail)
            raise RuntimeError("a background task fails (on purpose)")
        await asyncio.Event().wait()


def test_a_failed_background_task_makes_the_hub_unready_until_it_is_restarted(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    task = FailsOnce()
    may_restart = threading.Event()

    async def backoff(failures: int) -> None:
        await wait_for(may_restart)

    background: dict[str, TaskFactory] = {"fails-once": task}
    with serving(redis_url, background=background, restart_backoff=backoff) as hub:
        assert hub.readyz() == (200, {"status": "ready"})
        task.fail.set()
        until(lambda: hub.readyz()[0] == 503, "/readyz to answer 503")
        assert hub.readyz()[1]["down"] == ["fails-once"]

        # Meanwhile the hub works: Redis and the HTTP client to platforms are open.
        status, created = hub.admin(
            "POST",
            "/platforms",
            {"name": "CPO", "roles": [{"country_code": "NL", "party_id": "SUP", "role": "CPO"}]},
        )
        assert status == 201, created
        with FakePlatform(roles=[("NL", "SUP", "CPO")]) as cpo:
            status, answer = cpo.register(f"{hub.url}/ocpi/versions", created["token_a"])
            assert status == 200, answer
            token = {"Authorization": f"Token {b64(cpo.peer_token or '')}"}
            assert client.request("GET", f"{hub.url}/ocpi/versions", headers=token)[0] == 200
        assert hub.readyz()[0] == 503

        may_restart.set()
        until(lambda: hub.readyz()[0] == 200, "/readyz to answer 200 again")
        assert task.starts == 2
    failed = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in failed] == [
        "background task fails-once failed; it will be restarted"
    ]
    assert failed[0].exc_info is not None


def test_shutdown_closes_every_redis_connection(redis_url: str) -> None:
    before = hub_connections(redis_url)
    with serving(redis_url) as hub:
        # The requests, the change listener and the delivery loop hold connections now.
        assert hub_connections(redis_url) > before
        hub.stop()
        # ``hub.app`` still references the app and its clients: nothing was left to the GC.
        assert hub_connections(redis_url) == before


class Stubborn:
    """A background task that ignores the first cancellation (a bug the hub must survive)."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    async def __call__(self) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
        await asyncio.sleep(60)


def test_shutdown_waits_for_background_tasks_at_most_the_shutdown_timeout(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    stubborn = Stubborn()
    with serving(redis_url, background={"stubborn": stubborn}, shutdown_timeout=1) as hub:
        took = hub.stop()
    assert stubborn.cancelled.is_set()
    assert took < 30, f"shutdown took {took:.1f} s, with a task that would have held it 60 s"
    assert any("did not stop within 1 s: stubborn" in r.getMessage() for r in caplog.records)
