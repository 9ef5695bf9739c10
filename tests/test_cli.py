"""``ocpi-hub`` run as a process: the admin commands where the environment and the working
directory matter (tests/test_cli_admin.py runs the others in this process), and ``serve``'s
refusals and help."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from hub.settings import Settings
from tests.hubproc import HubProcess

PartyIds = Callable[[], str]


def run_cli(
    *args: str,
    hub: HubProcess | None = None,
    token: str | None = None,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m hub ARGS`` with --hub-url/--admin-token of `hub` appended unless given;
    HUB_* variables of the test environment are kept away from it (``env`` gives some)."""
    cmd = [sys.executable, "-m", "hub", *args]
    if hub is not None:
        cmd += ["--hub-url", hub.url]
        if token is None and hub.admin_token is not None:
            cmd += ["--admin-token", hub.admin_token]
    if token is not None:
        cmd += ["--admin-token", token]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    return subprocess.run(
        cmd, capture_output=True, text=True, env={**clean, **(env or {})}, cwd=cwd, timeout=60
    )


def test_a_relative_data_dir_is_found_from_the_working_directory(
    hub: HubProcess, party_id: PartyIds, tmp_path: Path
) -> None:
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


def test_the_hub_is_found_where_serve_would_listen_with_the_same_environment(
    hub: HubProcess, party_id: PartyIds
) -> None:
    assert hub.admin_token is not None
    pid = party_id()
    hub.add_platform("Found", ("NL", pid, "CPO"))
    for env in (
        {"HUB_HOST": "127.0.0.1", "HUB_PORT": str(hub.port)},
        {"HUB_URL": hub.url, "HUB_PORT": "1"},  # HUB_URL first
        {"HUB_ADMIN_TOKEN": hub.admin_token, "HUB_URL": hub.url},
    ):
        token = None if "HUB_ADMIN_TOKEN" in env else hub.admin_token
        args = ["--admin-token", token] if token else []
        listed = run_cli("platforms", "list", *args, env=env)
        assert listed.returncode == 0, (env, listed.stderr)
        assert f"NL:{pid}:CPO" in listed.stdout


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
        (["--cdr-retention", "0"], {}, "cdr_retention"),
        (["--cdr-retention", "ninety"], {}, "--cdr-retention"),
        ([], {"HUB_CDR_RETENTION": "-5"}, "cdr_retention"),
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
    assert lines["--cdr-retention"].endswith(
        "days the hub keeps the sessions and CDRs it delivered, for the eMSP to pull again "
        "(default: 90)"
    ), lines["--cdr-retention"]
