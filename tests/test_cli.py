"""The admin commands of ``ocpi-hub`` (hub/admin_client.py), run as a real subprocess against a
real hub: what an operator types and reads."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from hub.settings import Settings
from tests.e2e.network import member
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, free_port
from tests.waiting import wait_for

PartyIds = Callable[[], str]


def run_cli(
    *args: str, hub: HubProcess | None = None, token: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m hub ARGS`` with --hub-url/--admin-token of `hub` appended unless given;
    HUB_* variables of the test environment are kept away from it."""
    cmd = [sys.executable, "-m", "hub", *args]
    if hub is not None:
        cmd += ["--hub-url", hub.url]
        if token is None and hub.admin_token is not None:
            cmd += ["--admin-token", hub.admin_token]
    if token is not None:
        cmd += ["--admin-token", token]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def run_json(*args: str, hub: HubProcess) -> Any:
    result = run_cli(*args, "--json", hub=hub)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def fields(stdout: str) -> dict[str, str]:
    """``key: value`` lines as a dict (indented endpoint lines are skipped)."""
    pairs = (line.split(": ", 1) for line in stdout.splitlines() if ": " in line)
    return {key: value for key, value in pairs if not key.startswith(" ")}


def add(hub: HubProcess, name: str, *roles: str) -> dict[str, Any]:
    return dict(run_json("platforms", "add", "--name", name, *roles, hub=hub))


def table(stdout: str) -> tuple[list[str], list[list[str]]]:
    """A table's header and rows, split on whitespace (only a last column may hold spaces)."""
    header, *rows = stdout.splitlines()
    columns = header.split()
    return columns, [row.split(maxsplit=len(columns) - 1) for row in rows]


def test_add_prints_token_a_once_with_versions_url(hub: HubProcess, party_id: PartyIds) -> None:
    pid_a, pid_b = party_id(), party_id()
    result = run_cli(
        "platforms",
        "add",
        "--name",
        "Table CPO",
        "--role",
        f"NL:{pid_a}:CPO",
        "--role",
        f"nl:{pid_b.lower()}:emsp",
        hub=hub,
    )
    assert result.returncode == 0, result.stderr
    shown = fields(result.stdout)
    assert shown["name"] == "Table CPO"
    assert shown["status"] == "PLANNED"
    assert shown["roles"] == f"NL:{pid_a}:CPO,NL:{pid_b}:EMSP"
    assert shown["versions_url"] == hub.versions_url
    assert shown["endpoints"] == "-" and shown["version"] == "-"
    assert len(shown["token_a"]) >= 16
    assert "only" in result.stderr and "token A" in result.stderr

    answer = add(hub, "JSON CPO", "--role", f"NL:{party_id()}:CPO", "--token-encoding", "raw")
    assert answer["status"] == "PLANNED"
    assert answer["token_encoding"] == "raw"
    assert answer["token_a"] and answer["versions_url"] == hub.versions_url


def test_list_show_set_suspend_resume_token_a(hub: HubProcess, party_id: PartyIds) -> None:
    pid = party_id()
    platform_id = add(hub, "Lister", "--role", f"NL:{pid}:CPO")["id"]

    listed = run_cli("platforms", "list", hub=hub)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["id", "name", "status", "roles", "version", "last_seen"]
    row = next(r for r in rows if r.startswith(platform_id))
    assert row.split() == [platform_id, "Lister", "PLANNED", f"NL:{pid}:CPO", "-", "-"]
    assert platform_id in [p["id"] for p in run_json("platforms", "list", hub=hub)]

    shown = run_cli("platforms", "show", platform_id, hub=hub)
    assert shown.returncode == 0, shown.stderr
    assert fields(shown.stdout)["id"] == platform_id
    assert fields(shown.stdout)["roles"] == f"NL:{pid}:CPO"
    assert "token_a" not in shown.stdout

    renamed = run_cli("platforms", "set", platform_id, "--name", "Renamed", hub=hub)
    assert renamed.returncode == 0, renamed.stderr
    assert fields(renamed.stdout)["name"] == "Renamed"
    changed = run_json("platforms", "set", platform_id, "--token-encoding", "base64", hub=hub)
    assert changed["token_encoding"] == "base64" and changed["name"] == "Renamed"
    nothing = run_cli("platforms", "set", platform_id, hub=hub)
    assert nothing.returncode == 2 and "nothing to change" in nothing.stderr

    suspended = run_cli("platforms", "suspend", platform_id, hub=hub)
    assert suspended.returncode == 0, suspended.stderr
    assert fields(suspended.stdout)["status"] == "SUSPENDED"
    assert run_json("platforms", "show", platform_id, hub=hub)["status"] == "SUSPENDED"
    resumed = run_cli("platforms", "resume", platform_id, hub=hub)
    assert resumed.returncode == 0, resumed.stderr
    assert fields(resumed.stdout)["status"] == "PLANNED"

    issued = run_cli("platforms", "token-a", platform_id, hub=hub)
    assert issued.returncode == 0, issued.stderr
    assert fields(issued.stdout)["versions_url"] == hub.versions_url
    first = fields(issued.stdout)["token_a"]
    second = run_json("platforms", "token-a", platform_id, hub=hub)["token_a"]
    assert first and second and first != second


def test_connect_rotate_remove(hub: HubProcess, party_id: PartyIds) -> None:
    pid = party_id()
    with FakePlatform(roles=[("NL", pid, "CPO")], name="Fake CPO") as fake:
        platform_id = add(hub, "Fake CPO", "--role", f"NL:{pid}:CPO")["id"]
        connected = run_cli(
            "platforms",
            "connect",
            platform_id,
            "--versions-url",
            fake.versions_url,
            "--token",
            fake.token_a,
            hub=hub,
        )
        assert connected.returncode == 0, connected.stderr
        assert fields(connected.stdout)["status"] == "CONNECTED"
        assert f"  locations SENDER {fake.module_url('locations', 'SENDER')}" in connected.stdout
        shown = run_json("platforms", "show", platform_id, hub=hub)
        assert shown["status"] == "CONNECTED" and shown["version"] == "2.2.1"
        assert fake.registered

        token_c = fake.issued_token
        rotated = run_cli("platforms", "rotate", platform_id, hub=hub)
        assert rotated.returncode == 0, rotated.stderr
        assert fields(rotated.stdout)["status"] == "CONNECTED"
        assert fake.issued_token != token_c

        removed = run_cli("platforms", "remove", platform_id, hub=hub)
        assert removed.returncode == 0, removed.stderr
        assert removed.stdout.strip() == f"removed {platform_id}"
        after = run_json("platforms", "show", platform_id, hub=hub)
        assert after["status"] == "SUSPENDED"


def test_unknown_platform_is_an_error(hub: HubProcess) -> None:
    for action in ("show", "suspend", "remove"):
        result = run_cli("platforms", action, "no-such-platform", hub=hub)
        assert result.returncode == 1
        assert result.stderr.startswith("error: ") and "(HTTP 404)" in result.stderr
        assert result.stdout == ""


def test_wrong_admin_token(hub: HubProcess) -> None:
    result = run_cli("platforms", "list", hub=hub, token="not-the-admin-token")
    assert result.returncode == 1
    assert "(HTTP 401)" in result.stderr and "admin token" in result.stderr


def test_unreachable_hub() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli("platforms", "list", "--hub-url", url, "--admin-token", "x", "--timeout", "5")
    assert result.returncode == 1
    assert f"cannot reach the hub at {url}" in result.stderr


def test_silent_hub_times_out() -> None:
    with socket.socket() as silent:  # connections are queued but never answered
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        result = run_cli(
            "platforms", "list", "--hub-url", url, "--admin-token", "x", "--timeout", "1"
        )
    assert result.returncode == 1
    assert f"the hub at {url} did not answer within 1s" in result.stderr


@pytest.mark.parametrize("bad", ["NL:CPA", "NLD:CPA:CPO", "NL:CP:CPO", "NL:CPA:", "NL-CPA-CPO"])
def test_bad_role_is_a_usage_error(hub: HubProcess, bad: str) -> None:
    result = run_cli("platforms", "add", "--name", "Bad", "--role", bad, hub=hub)
    assert result.returncode == 2
    assert result.stderr.startswith("ocpi-hub: argument --role")
    assert result.stderr.count("\n") == 1 and "ocpi-hub platforms add --help" in result.stderr


def test_role_refused_by_the_hub(hub: HubProcess, party_id: PartyIds) -> None:
    result = run_cli("platforms", "add", "--name", "H", "--role", f"NL:{party_id()}:HUB", hub=hub)
    assert result.returncode == 1
    assert "role must be one of" in result.stderr and "(HTTP 400)" in result.stderr


def test_admin_token_from_data_dir(hub: HubProcess, party_id: PartyIds, tmp_path: Path) -> None:
    assert hub.admin_token is not None
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "admin-token").write_text(hub.admin_token + "\n")
    pid = party_id()
    base = ["--hub-url", hub.url]
    added = run_cli(
        "platforms",
        "add",
        "--name",
        "D",
        "--role",
        f"NL:{pid}:CPO",
        *base,
        "--data-dir",
        "data",
        cwd=tmp_path,
    )
    assert added.returncode == 0, added.stderr
    # the default data dir is ./var
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "admin-token").write_text(hub.admin_token)
    listed = run_cli("platforms", "list", *base, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert f"NL:{pid}:CPO" in listed.stdout


def test_no_admin_token_found(tmp_path: Path) -> None:
    result = run_cli("platforms", "list", "--data-dir", str(tmp_path / "nowhere"))
    assert result.returncode == 2
    assert "no admin token" in result.stderr
    assert str(tmp_path / "nowhere" / "admin-token") in result.stderr


QUEUE_COLUMNS = [
    "platform",
    "name",
    "status",
    "depth",
    "oldest_age",
    "dead_letters",
    "delivered_by",
]
LETTER_COLUMNS = ["id", "platform", "module", "method", "path", "attempts", "parked_at", "reason"]


def test_queues_lists_a_registered_platform(hub: HubProcess, party_id: PartyIds) -> None:
    pid = party_id()
    with member(hub, ("NL", pid, "CPO")) as cpo:

        def own_queue() -> dict[str, Any] | None:
            found = [q for q in run_json("queues", hub=hub) if q["platform"] == cpo.id]
            return found[0] if found and found[0]["depth"] == 0 else None

        queue = wait_for(own_queue, what="an empty queue")
        assert queue["name"] == f"NL{pid}" and queue["status"] == "CONNECTED"
        assert queue["oldest_age"] is None and queue["dead_letters"] == 0

        listed = run_cli("queues", hub=hub)
        assert listed.returncode == 0, listed.stderr
        columns, rows = table(listed.stdout)
        assert columns == QUEUE_COLUMNS
        (row,) = [r for r in rows if r[0] == cpo.id]
        assert row[:6] == [cpo.id, f"NL{pid}", "CONNECTED", "0", "-", "0"]


def test_dead_letters_of_a_fresh_platform(hub: HubProcess, party_id: PartyIds) -> None:
    with member(hub, ("NL", party_id(), "CPO")) as cpo:
        listed = run_cli("dead-letters", "--platform", cpo.id, hub=hub)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.split() == LETTER_COLUMNS
        assert run_json("dead-letters", "--platform", cpo.id, hub=hub) == []
        everything = run_cli("dead-letters", hub=hub)
        assert everything.returncode == 0, everything.stderr
        assert table(everything.stdout)[0] == LETTER_COLUMNS

        redriven = run_cli("dead-letters", "--redrive", "--platform", cpo.id, hub=hub)
        assert redriven.returncode == 0, redriven.stderr
        assert redriven.stdout == "redriven: 0\n"
        answer = run_json("dead-letters", "--redrive", "--platform", cpo.id, hub=hub)
        assert answer == {"redriven": 0}


def test_dead_letters_errors(hub: HubProcess) -> None:
    no_platform = run_cli("dead-letters", "--redrive", "--id", "1-0", hub=hub)
    assert no_platform.returncode == 1 and no_platform.stdout == ""
    assert no_platform.stderr == "error: ids need a platform (HTTP 400)\n"
    for args in (["--platform", "no-such-platform"], ["--redrive", "--platform", "no-such"]):
        unknown = run_cli("dead-letters", *args, hub=hub)
        assert unknown.returncode == 1 and unknown.stdout == ""
        assert unknown.stderr.startswith("error: no platform no-such")
        assert "(HTTP 404)" in unknown.stderr
    listing = run_cli("dead-letters", "--id", "1-0", hub=hub)
    assert listing.returncode == 2 and "--id needs --redrive" in listing.stderr


def test_an_expired_message_is_listed_and_redriven(
    hub_factory: Callable[..., HubProcess], party_id: PartyIds
) -> None:
    fast = ["--retry-base", "0.05", "--retry-max", "0.3", "--message-ttl", "1"]
    hub = hub_factory(args=fast).start()
    cpo_pid, emsp_pid = party_id(), party_id()
    with member(hub, ("NL", cpo_pid, "CPO")) as cpo, member(hub, ("NL", emsp_pid, "EMSP")) as emsp:
        emsp.fake.down = True
        path = f"NL/{cpo_pid}/T-1"
        tariff = {
            "country_code": "NL",
            "party_id": cpo_pid,
            "id": "T-1",
            "currency": "EUR",
            "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
            "last_updated": "2026-11-24T10:00:00Z",
        }
        status, _, answer = cpo.call(
            "PUT", f"/ocpi/2.2.1/receiver/tariffs/{path}", body=tariff, to=("NL", "HUB")
        )
        assert (status, answer["status_code"]) == (200, 1000), answer

        def tariff_letters() -> list[Any]:
            letters = run_json("dead-letters", "--platform", emsp.id, hub=hub)
            return [d for d in letters if d["message"]["module"] == "tariffs"]

        (letter,) = wait_for(tariff_letters, what="a dead letter")
        listed = run_cli("dead-letters", hub=hub)
        assert listed.returncode == 0, listed.stderr
        columns, rows = table(listed.stdout)
        assert columns == LETTER_COLUMNS
        (row,) = [r for r in rows if r[0] == letter["id"]]
        assert row[1:5] == [emsp.id, "tariffs", "PUT", path]
        assert row[5] == str(letter["attempts"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", row[6])
        parked = datetime.strptime(row[6], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert abs(parked.timestamp() - letter["parked_at"]) < 1
        assert row[7] == letter["reason"] and "expired after 1 s" in row[7]
        (queue,) = [q for q in run_json("queues", hub=hub) if q["platform"] == emsp.id]
        assert queue["dead_letters"] >= 1

        emsp.fake.down = False
        redriven = run_cli(
            "dead-letters", "--redrive", "--platform", emsp.id, "--id", letter["id"], hub=hub
        )
        assert redriven.returncode == 0, redriven.stderr
        assert redriven.stdout == "redriven: 1\n"
        wait_for(
            lambda: emsp.received("PUT", f"/ocpi/2.2.1/tariffs/receiver/{path}"), what="redrive"
        )
        assert tariff_letters() == []


# --- ocpi-hub serve: refusals and help ---------------------------------------------------------


def serve_refused(*args: str, env: dict[str, str] | None = None) -> str:
    """Run ``ocpi-hub serve ARGS``, expect the one-line refusal with exit code 2; its text."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    done = subprocess.run(
        [sys.executable, "-m", "hub", "serve", *args],
        capture_output=True,
        text=True,
        env={**clean, **(env or {})},
        timeout=30,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("ocpi-hub: "), done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stdout == ""
    return done.stderr


@pytest.mark.parametrize(
    ("args", "env", "mentions"),
    [
        (["--log-level", "verbose"], {}, "--log-level"),
        (["--port", "abc"], {}, "--port"),
        (["--port", "0"], {}, "port"),
        (["--shutdown-timeout", "-1"], {}, "shutdown_timeout"),
        (["--max-connections", "0"], {}, "max_connections"),
        (["--no-such-option"], {}, "--no-such-option"),
        ([], {"HUB_PORT": "abc"}, "HUB_PORT"),
        ([], {"HUB_WORKERS": "0"}, "workers"),
        ([], {"HUB_REDIS_CLUSTER": "maybe"}, "HUB_REDIS_CLUSTER"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_code_2(
    tmp_path: Path, args: list[str], env: dict[str, str], mentions: str
) -> None:
    assert mentions in serve_refused("--data-dir", str(tmp_path), *args, env=env)


def test_a_bad_config_file_is_one_line(tmp_path: Path) -> None:
    assert "cannot read config file" in serve_refused("--config", str(tmp_path / "missing.toml"))
    broken = tmp_path / "broken.toml"
    broken.write_text("port = \n")
    assert str(broken) in serve_refused("--config", str(broken))


def test_a_data_dir_that_cannot_be_made_or_written_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    below_a_file = tmp_path / "file" / "data"
    assert str(below_a_file) in serve_refused("--data-dir", str(below_a_file))
    # It exists, and nobody (root included) can create a file in it.
    assert "/proc/self" in serve_refused("--data-dir", "/proc/self")


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        assert port in serve_refused("--data-dir", str(tmp_path), "--port", port)


def test_help_shows_every_default() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "hub", "serve", "--help"],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "400"},
        timeout=30,
    )
    assert done.returncode == 0
    # One entry per option: its line and the help below it (argparse puts long ones there).
    lines: dict[str, str] = {}
    for line in done.stdout.splitlines():
        if line.startswith("  --"):
            option = line.split()[0]
            lines[option] = line
        elif line.startswith("    ") and lines:
            lines[option] += " " + line.strip()
    for field in msgspec.structs.fields(Settings):
        line = lines["--" + field.name.replace("_", "-")]
        if field.default is None:
            assert "default" in line, line
        elif isinstance(field.default, bool):
            assert line.endswith("(default: off)"), line
        else:
            assert line.endswith(
                f"(default: {field.default:g})"
                if isinstance(field.default, float)
                else f"(default: {field.default})"
            ), line
    assert "(default: 10)" in lines["--shutdown-timeout"]
    assert "(default: info)" in lines["--log-level"]
