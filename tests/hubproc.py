"""The real hub, run as ``python -m hub serve`` in a subprocess on a free loopback port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from tests import client
from tests.client import HttpResult
from tests.parties import free_port

ADMIN_TOKEN = "test-admin-token-0123456789"


def wait_ready(
    url: str, failed: Callable[[], str | None], timeout: float, log: Callable[[], str]
) -> bool:
    """Poll ``{url}/readyz`` until it answers 200 (True) or ``timeout`` passes (False);
    ``failed`` says why the hub cannot become ready any more (then RuntimeError)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        why = failed()
        if why is not None:
            raise RuntimeError(f"{why}:\n{log()}")
        try:
            status, _, _ = client.request("GET", f"{url}/readyz", timeout=1)
            if status == 200:
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


class HubCalls:
    """Calling a running hub over HTTP, whichever way it runs (here or in ``tests.inprocess``)."""

    url: str
    admin_token: str | None

    def admin(self, method: str, path: str, body: Any = None) -> HttpResult:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        return client.request(method, f"{self.url}/admin{path}", body=body, headers=headers)

    def add_platform(self, name: str, *roles: tuple[str, str, str], **extra: Any) -> dict[str, Any]:
        body = {
            "name": name,
            "roles": [{"country_code": c, "party_id": p, "role": r} for c, p, r in roles],
            **extra,
        }
        status, _, answer = self.admin("POST", "/platforms", body)
        assert status == 201, answer
        return dict(answer)

    def platform(self, platform_id: str) -> dict[str, Any]:
        status, _, answer = self.admin("GET", f"/platforms/{platform_id}")
        assert status == 200, answer
        return dict(answer)


class HubProcess(HubCalls):
    def __init__(
        self,
        data_dir: Path,
        *,
        args: list[str] | None = None,
        admin_token: str | None = ADMIN_TOKEN,
        env: dict[str, str] | None = None,
        allow_private_urls: bool = True,
    ) -> None:
        self.allow_private_urls = allow_private_urls
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.versions_url = f"{self.url}/ocpi/versions"
        self.admin_token = admin_token
        self._args = args or []
        self._env = env or {}
        self.process: subprocess.Popen[str] | None = None
        self.log_path = data_dir.parent / f"hub-{self.port}.log"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "hub", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir), "--handshake-timeout", "3"]
        if self.allow_private_urls:
            # The simulated platforms listen on 127.0.0.1, which the URL guard refuses.
            cmd.append("--allow-private-urls")
        if self.admin_token is not None:
            cmd += ["--admin-token", self.admin_token]
        return cmd + self._args

    def start(self, timeout: float = 20.0) -> Self:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
        env.update(self._env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "a")  # noqa: SIM115 - the child writes to it until it ends
        self.process = subprocess.Popen(
            self.command(), stdout=log, stderr=subprocess.STDOUT, text=True, env=env
        )
        log.close()
        process = self.process

        def exited() -> str | None:
            code = process.poll()
            return None if code is None else f"hub exited with {code}"

        if not wait_ready(self.url, exited, timeout, self.log):
            self.stop()
            raise RuntimeError(f"hub did not become ready:\n{self.log()}")
        return self

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
