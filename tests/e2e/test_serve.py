"""``ocpi-hub serve``: embedded or external Redis, restarts, the admin token, clean shutdown."""

from __future__ import annotations

import os
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hub.server import GRACE, KILL_AFTER
from hub.store.embedded import EmbeddedRedis
from tests import client
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64
from tests.processes import alive, wait_gone, wait_until, workers

MakeHub = Callable[..., HubProcess]


def started(hub: HubProcess) -> int:
    """How many worker processes have started serving."""
    return hub.log().count("Application startup complete.")


def redis_pid(data_dir: Path) -> int:
    """The embedded redis-server's pid, from the pidfile it writes in the data dir."""
    return int((data_dir / "redis.pid").read_text())


def test_data_survives_a_restart_and_sigterm_stops_everything(
    hub_factory: MakeHub, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    first = hub_factory(data, admin_token=None).start()
    admin_token = (data / "admin-token").read_text().strip()
    assert stat.S_IMODE((data / "admin-token").stat().st_mode) == 0o600
    first.admin_token = admin_token
    created = first.add_platform("CPO", ("NL", "RST", "CPO"))
    with FakePlatform(roles=[("NL", "RST", "CPO")]) as cpo:
        assert cpo.register(first.versions_url, created["token_a"])[0] == 200
        token_c = cpo.peer_token or ""
    pid = redis_pid(data)
    assert alive(pid)

    assert first.stop(signal.SIGTERM) == 0

    assert not alive(pid)
    log = first.log()
    assert f"listening on http://127.0.0.1:{first.port}" in log
    assert f"OCPI versions: {first.url}/ocpi/versions" in log
    assert f"admin token in {data / 'admin-token'}" in log
    assert admin_token not in log

    second = hub_factory(data, admin_token=None).start()
    second.admin_token = admin_token  # the same token file is read again
    platform = second.platform(created["id"])
    assert platform["status"] == "CONNECTED"
    status, _, body = client.request(
        "GET", second.versions_url, headers={"Authorization": f"Token {b64(token_c)}"}
    )
    assert (status, body["status_code"]) == (200, 1000)
    pid = redis_pid(data)
    assert second.stop(signal.SIGINT) == 0
    assert not alive(pid)


def test_an_external_redis(hub_factory: MakeHub, tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path / "external") as redis:
        hub = hub_factory(tmp_path / "data", args=["--redis-url", redis.url]).start()
        created = hub.add_platform("eMSP", ("NL", "EXT", "EMSP"))
        assert hub.stop() == 0
        # The hub started no Redis of its own; the data is in the external one.
        assert not (tmp_path / "data" / "redis.log").exists()
        again = hub_factory(tmp_path / "data2", args=["--redis-url", redis.url]).start()
        assert again.platform(created["id"])["name"] == "eMSP"
        assert "external Redis at unix://" in again.log()


def test_settings_from_the_environment_and_a_config_file(
    hub_factory: MakeHub, tmp_path: Path
) -> None:
    config = tmp_path / "hub.toml"
    config.write_text('country_code = "DE"\nparty_id = "XHB"\nbusiness_name = "From file"\n')
    hub = hub_factory(
        args=["--config", str(config), "--party-id", "FLG"],
        env={"HUB_BUSINESS_NAME": "From env", "HUB_PUBLIC_URL": "https://hub.example.com/"},
    ).start()
    created = hub.add_platform("CPO", ("NL", "CFG", "CPO"))

    status, _, body = client.request(
        "GET",
        f"{hub.url}/ocpi/2.2.1/credentials",
        headers={"Authorization": f"Token {b64(created['token_a'])}"},
    )

    assert status == 200
    role = body["data"]["roles"][0]
    # file < environment < flags
    assert (role["country_code"], role["party_id"]) == ("DE", "FLG")
    assert role["business_details"]["name"] == "From env"
    assert body["data"]["url"] == "https://hub.example.com/ocpi/versions"
    assert created["versions_url"] == "https://hub.example.com/ocpi/versions"


def test_a_bad_setting_stops_the_start_with_a_message(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--party-id",
            "TOOLONG",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "party_id" in done.stderr


def test_requests_in_flight_finish_on_sigterm(hub_factory: MakeHub, tmp_path: Path) -> None:
    hub = hub_factory().start()
    created = hub.add_platform("Slow", ("NL", "SLW", "EMSP"))
    with FakePlatform(roles=[("NL", "SLW", "EMSP")]) as slow:
        # The hub reads the platform's versions and details while it handles the platform's
        # credentials POST: each takes half a second here.
        slow.delay = 0.5
        answers: list[Any] = []
        register = threading.Thread(
            target=lambda: answers.append(slow.register(hub.versions_url, created["token_a"]))
        )
        register.start()
        time.sleep(0.3)
        assert hub.process is not None
        os.kill(hub.process.pid, signal.SIGTERM)
        register.join(timeout=15)
        assert hub.stop() == 0

    assert answers and answers[0][0] == 200, answers
    assert answers[0][1]["status_code"] == 1000


def test_several_workers_share_the_port_and_the_store(hub_factory: MakeHub) -> None:
    hub = hub_factory(args=["--workers", "2"]).start()
    created = [hub.add_platform(f"P{i}", ("NL", f"WK{i}", "CPO")) for i in range(6)]

    listed = {p["id"] for p in hub.admin("GET", "/platforms")[2]}

    assert {p["id"] for p in created} <= listed
    assert "Started parent process" in hub.log()
    assert hub.stop() == 0


def test_workers_are_restarted_and_all_stop_within_the_bound(
    hub_factory: MakeHub, tmp_path: Path
) -> None:
    hub = hub_factory(args=["--workers", "2", "--shutdown-timeout", "2"]).start()
    assert hub.process is not None
    parent = hub.process.pid
    wait_until(lambda: started(hub) == 2 and len(workers(parent)) == 2, "two workers", 30)
    died = workers(parent)[0]
    os.kill(died, signal.SIGKILL)
    wait_until(lambda: started(hub) == 3 and died not in workers(parent), "a new worker", 30)
    assert len(workers(parent)) == 2
    assert [client.request("GET", f"{hub.url}/healthz")[0] for _ in range(4)] == [200] * 4
    stopping = [*workers(parent), redis_pid(tmp_path / "data")]

    began = time.monotonic()
    assert hub.stop(timeout=60) == 0

    assert time.monotonic() - began < 2 + GRACE + KILL_AFTER + 5
    wait_gone(stopping, 5)
    assert f"worker [{died}] died (exit code -9); starting another" in hub.log()


def test_workers_and_the_embedded_redis_die_with_a_killed_hub(
    hub_factory: MakeHub, tmp_path: Path
) -> None:
    hub = hub_factory(args=["--workers", "2", "--shutdown-timeout", "2"]).start()
    assert hub.process is not None
    parent = hub.process.pid
    wait_until(lambda: started(hub) == 2 and len(workers(parent)) == 2, "two workers", 30)
    orphans = [*workers(parent), redis_pid(tmp_path / "data")]

    hub.stop(signal.SIGKILL)

    # SIGTERM from the kernel; the workers stop as on any SIGTERM, within the same bound.
    wait_gone(orphans, 2 + GRACE + 5)


class LimitedHub(HubProcess):
    """A hub started with a low limit of open files, as many hosts set it."""

    def __init__(self, data_dir: Path, soft: int, hard: int) -> None:
        super().__init__(data_dir)
        self.limits = (soft, hard)

    def command(self) -> list[str]:
        limit = (
            "import os, resource, sys; "
            f"resource.setrlimit(resource.RLIMIT_NOFILE, {self.limits}); "
            "os.execv(sys.executable, sys.argv[1:])"
        )
        return [sys.executable, "-c", limit, *super().command()]


def open_files_limit(pid: int) -> tuple[int, int]:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no open files limit")


def test_the_open_files_limit_is_raised_and_a_low_one_is_logged(tmp_path: Path) -> None:
    with LimitedHub(tmp_path / "data", soft=256, hard=1024) as hub:
        assert hub.process is not None
        assert open_files_limit(hub.process.pid) == (1024, 1024)
        assert client.request("GET", f"{hub.url}/healthz")[0] == 200
    log = hub.log()
    assert "open files limit is 1024, below the 3072 that max_connections 2048 needs" in log
    assert "Traceback" not in log
