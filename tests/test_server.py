"""hub/server/ in real processes, serving the small apps of tests/apps.py: bounded shutdown
(the watchdog, the supervisor's SIGKILL), startup failures, and what an app sees of a client
that never finishes its body. The hub itself under the same server: tests/e2e/test_serve.py
and tests/e2e/test_edge.py."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub.server import GRACE, KILL_AFTER
from tests import client
from tests.parties import free_port
from tests.processes import alive, wait_gone, wait_until, workers


class Served:
    """``python -m tests.apps APP SETTINGS`` on a free loopback port."""

    def __init__(self, app: str, log_path: Path, **settings: Any) -> None:
        self.port = free_port()
        self.settings = {"port": self.port, **settings}
        self.app = app
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, ready: bool = True) -> Served:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "tests.apps", self.app, json.dumps(self.settings)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        if ready:
            wait_until(self._answers, "the server to answer", 20)
        return self

    def _answers(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.log()
        try:
            return client.request("GET", f"http://127.0.0.1:{self.port}/", timeout=1)[0] == 200
        except OSError:
            return False

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def stop_took(self, sig: int = signal.SIGTERM, timeout: float = 30) -> tuple[float, int]:
        """Send ``sig``; (seconds until the process ended, its exit code)."""
        assert self.process is not None
        began = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout)
        return time.monotonic() - began, code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def make(app: str, **settings: Any) -> Served:
        served = Served(app, tmp_path / f"{app}-{len(started)}.log", **settings)
        started.append(served)
        return served

    yield make
    for served in started:
        if served.process is not None and served.process.poll() is None:
            served.process.kill()
            served.process.wait()


def test_an_app_waiting_for_a_body_sees_the_client_go_at_the_timeout(
    serve: Callable[..., Served],
) -> None:
    served = serve("plain", client_timeout=1).start()
    with socket.create_connection(("127.0.0.1", served.port), timeout=20) as half:
        half.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
        began = time.monotonic()
        assert half.recv(100) == b""  # closed, with nothing sent
        assert 0.5 < time.monotonic() - began < 10
    wait_until(lambda: "http.disconnect after" in served.log(), "the app to see it", 10)
    assert served.stop_took()[1] == 0


def test_a_shutdown_that_hangs_ends_at_the_bound(serve: Callable[..., Served]) -> None:
    """One process: its watchdog ends it. Workers: the one whose shutdown hangs is ended by its
    own watchdog; the one frozen (SIGSTOP: not even its watchdog runs) by the supervisor's
    SIGKILL. Both stop at the same time, to keep the suite fast."""
    single = serve("stuck_in_shutdown", shutdown_timeout=0.5).start()
    several = serve("stuck_in_shutdown", shutdown_timeout=0.5, workers=2).start()
    wait_until(lambda: several.log().count("startup complete") == 2, "two workers", 30)
    frozen, stuck = workers(several.pid)
    os.kill(frozen, signal.SIGSTOP)

    began = time.monotonic()
    for served in (single, several):
        assert served.process is not None
        served.process.send_signal(signal.SIGTERM)
    assert single.process is not None and several.process is not None
    assert single.process.wait(30) == 1
    single_took = time.monotonic() - began
    assert several.process.wait(30) == 1
    several_took = time.monotonic() - began

    assert GRACE < single_took < 0.5 + GRACE + 10
    bound = 0.5 + GRACE
    assert f"process [{single.pid}]: shutdown did not finish within {bound:g} s" in single.log()
    assert bound + KILL_AFTER < several_took < bound + KILL_AFTER + 10
    wait_gone([frozen, stuck], 5)
    log = several.log()
    assert f"process [{stuck}]: shutdown did not finish within {bound:g} s" in log
    assert f"worker [{frozen}] did not stop in time; killing it" in log


def test_a_clean_stop_of_workers_is_exit_code_0(serve: Callable[..., Served]) -> None:
    served = serve("plain", workers=2).start()
    wait_until(lambda: served.log().count("startup complete") == 2, "two workers", 30)
    pids = workers(served.pid)
    took, code = served.stop_took(signal.SIGINT)
    assert code == 0 and took < 10
    wait_gone(pids, 5)


def test_workers_that_cannot_start_stop_the_supervisor(serve: Callable[..., Served]) -> None:
    served = serve("failing_startup", workers=2).start(ready=False)
    assert served.process is not None
    assert served.process.wait(30) == 1
    assert "failed to start; stopping" in served.log()
    assert not alive(served.pid)
