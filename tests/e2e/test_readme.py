"""The README's set-up commands and quick start, run as written (on a free port)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests import client
from tests.parties import FakePlatform, free_port

README = (Path(__file__).parent.parent.parent / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end != -1 else None]


def bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, re.DOTALL)]


def fields(output: str) -> dict[str, str]:
    """The CLI's ``key: value`` lines."""
    return dict(re.findall(r"^(\w+): (.*)$", output, re.MULTILINE))


def test_the_set_up_commands() -> None:
    assert bash_blocks(section("Set up")) == [
        "pip install . && ocpi-hub serve",
        "pip install -e '.[test]' && pytest",
    ]


def test_the_quick_start(tmp_path: Path) -> None:
    serve, add_cpo, list_platforms, add_and_connect = bash_blocks(section("Quick start"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env["HUB_PORT"] = str(port)  # 8080 may be taken on this machine
    # The simulated platforms listen on 127.0.0.1: the Quick start says to allow that.
    assert "--allow-private-urls" in section("Quick start")
    env["HUB_ALLOW_PRIVATE_URLS"] = "true"
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"

    def run(command: str) -> str:
        done = subprocess.run(
            ["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    hub = subprocess.Popen(["bash", "-c", "exec " + serve], cwd=tmp_path, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.request("GET", f"{url}/readyz", timeout=1)[0] == 200:
                    break
            except OSError:
                time.sleep(0.05)
        assert (tmp_path / "var" / "admin-token").exists()

        cpo_platform = fields(run(add_cpo))
        assert cpo_platform["status"] == "PLANNED"
        assert cpo_platform["versions_url"] == f"{url}/ocpi/versions"
        with FakePlatform(roles=[("NL", "CPA", "CPO")], name="CPO A") as cpo:
            status, answer = cpo.register(cpo_platform["versions_url"], cpo_platform["token_a"])
            assert status == 200, answer

        listed = run(list_platforms)
        assert re.search(rf"{cpo_platform['id']}.*CPO A.*CONNECTED.*NL:CPA:CPO", listed)

        add_emsp, connect = add_and_connect.splitlines()
        emsp_platform = fields(run(add_emsp))
        with FakePlatform(roles=[("DE", "EMB", "EMSP")]) as emsp:
            command = (
                connect.replace("<id>", emsp_platform["id"])
                .replace("<the eMSP's versions URL>", emsp.versions_url)
                .replace("<its token A>", emsp.token_a)
            )
            assert fields(run(command))["status"] == "CONNECTED"
            assert emsp.registered
    finally:
        hub.send_signal(signal.SIGTERM)
        assert hub.wait(20) == 0
