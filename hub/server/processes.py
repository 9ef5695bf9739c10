"""The processes of ``ocpi-hub serve``: the listening socket, one serving process, or a
supervisor of ``workers`` processes sharing that socket.

Shutdown is bounded at every level (README: "Shutdown"): a watchdog thread ends a process whose
shutdown outlives ``shutdown_timeout`` by ``GRACE`` seconds, the supervisor SIGKILLs a worker
still there ``KILL_AFTER`` seconds later, and workers die with their supervisor.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import os
import resource
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import msgspec
import uvicorn
from uvicorn.config import STARTUP_FAILURE

from hub import logs
from hub.errors import StartupError
from hub.lifeline import parent_death_signal
from hub.server import collector
from hub.server.protocol import HubHttpProtocol
from hub.settings import Settings

log = logging.getLogger("hub.server")

# Seconds a process may take, after ``shutdown_timeout``, to close what it holds (Redis, queue
# leases, the HTTP client) before its watchdog ends it.
GRACE = 5.0
# Seconds more the supervisor gives a worker, after the worker's own watchdog, before SIGKILL.
KILL_AFTER = 2.0
# Exit code of a process ended by its watchdog.
EXIT_HUNG = 1
# Open files besides the client connections: Redis connections (one per delivered queue, README
# "Running in production"), connections to platforms, the listening socket, logs.
OTHER_FILES = 1024

AppFactory = Callable[[Settings, bool], Any]


# --- the listening socket and the process limits ---------------------------------------------


def _socket(host: str, port: int) -> tuple[socket.socket, Any]:
    """A TCP socket for ``host`` and the address to bind it to (StartupError when there is
    none), with SO_REUSEADDR set."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    except OSError as e:
        raise StartupError(f"cannot listen on {host}:{port}: {e}") from e
    return sock, address


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound once here and shared by every worker."""
    sock, address = _socket(host, port)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    return sock


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when ``port`` (the metrics port, which every worker binds itself with
    SO_REUSEPORT) is taken by another program: better now than as a failed worker."""
    probe, address = _socket(host, port)
    with probe:
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            probe.bind(address)
        except OSError as e:
            raise StartupError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e


def raise_open_files_limit(max_connections: int) -> None:
    """Raise the soft limit of open files to the hard limit (many hosts start at 1024), and say
    so in the log when it stays below what ``max_connections`` needs."""
    needed = max_connections + OTHER_FILES
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    if soft != resource.RLIM_INFINITY and soft < needed:
        log.warning(
            "open files limit is %d, below the %d that max_connections %d needs: "
            "raise it (ulimit -n, LimitNOFILE=) or lower max_connections",
            soft,
            needed,
            max_connections,
        )


# --- one serving process ---------------------------------------------------------------------


class Watchdog:
    """Ends the process ``bound`` seconds after its shutdown began, if it is still running.

    A thread, so that it works even when the event loop is blocked or a task swallowed its
    cancellation. It is started before serving; ``shutdown_began`` only sets an event, which is
    safe in a signal handler.
    """

    def __init__(self, bound: float) -> None:
        self.bound = bound
        self._began = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="shutdown-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def shutdown_began(self) -> None:
        self._began.set()

    def cancel(self) -> None:
        self._done.set()
        self._began.set()

    def _watch(self) -> None:
        self._began.wait()
        if self._done.wait(self.bound):
            return
        # Logging may block (a full stderr pipe, a lock held by the stuck thread): say it from
        # another thread and exit whatever happens to it.
        say = threading.Thread(
            target=log.error,
            args=(
                "process [%d]: shutdown did not finish within %g s; exiting now",
                os.getpid(),
                self.bound,
            ),
            daemon=True,
        )
        say.start()
        say.join(1.0)
        os._exit(EXIT_HUNG)


class _Server(uvicorn.Server):
    """uvicorn's server, with the watchdog started when its shutdown begins."""

    def __init__(self, config: uvicorn.Config, watchdog: Watchdog) -> None:
        super().__init__(config)
        self.watchdog = watchdog

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.watchdog.shutdown_began()
        super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.watchdog.shutdown_began()
        await super().shutdown(sockets)


def _ignore_signal(signum: int, frame: FrameType | None) -> None:
    return None


def serve(settings: Settings, sock: socket.socket, app: Any) -> int:
    """Serve ``app`` on ``sock`` in this process until SIGTERM or SIGINT; 0 after a clean stop.

    uvicorn re-raises the signal that stopped it once it has shut down; with a no-op handler
    in place that re-raise is a no-op, so what follows (stopping the embedded Redis) runs and
    the exit code is 0.
    """
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _ignore_signal)
    config = uvicorn.Config(
        app,
        http=HubHttpProtocol.configured(settings),
        ws="none",
        lifespan="on",
        log_config=None,
        timeout_graceful_shutdown=max(1, math.ceil(settings.shutdown_timeout)),
        proxy_headers=False,
        server_header=False,
    )
    watchdog = Watchdog(settings.shutdown_timeout + GRACE)
    watchdog.start()
    try:
        _Server(config, watchdog).run(sockets=[sock])
    finally:
        watchdog.cancel()
    return 0


def hub_app(settings: Settings, embedded_redis: bool) -> Any:
    """The hub's ASGI app (imported here, in the process that serves it: a supervisor never
    loads it, and a worker loads prometheus-client only after its multiprocess directory is
    set)."""
    from hub.app import create_app

    # Only a served process tunes its collector: an app built in another program (tests,
    # an embedding) leaves that program's heap alone.
    return create_app(
        settings, embedded_redis=embedded_redis, background={"garbage-collector": collector.run}
    )


def run(
    settings: Settings,
    sock: socket.socket,
    *,
    embedded_redis: bool,
    app_factory: AppFactory = hub_app,
) -> int:
    """Serve until SIGTERM or SIGINT: here, or in ``settings.workers`` worker processes."""
    if settings.workers == 1:
        return serve(settings, sock, app_factory(settings, embedded_redis))
    return Supervisor(settings, sock, embedded_redis, app_factory).run()


# --- several processes -----------------------------------------------------------------------


def _worker(
    encoded_settings: bytes,
    sock: socket.socket,
    embedded_redis: bool,
    app_factory: AppFactory,
    parent: int,
) -> None:
    """A worker process: tied to its supervisor's life, then serving like a single process."""
    tie = parent_death_signal(parent)
    if tie is not None:
        tie()
    settings = msgspec.json.decode(encoded_settings, type=Settings)
    logs.configure(settings.log_format, settings.log_level)
    try:
        app = app_factory(settings, embedded_redis)
    except StartupError as e:
        log.error("worker cannot start: %s", e.message)
        sys.exit(STARTUP_FAILURE)
    sys.exit(serve(settings, sock, app))


class Supervisor:
    """Runs ``workers`` processes on one listening socket, starts a new one when one dies, and
    stops them all within a bound.

    On SIGTERM or SIGINT it sends SIGTERM to every worker, waits ``shutdown_timeout`` +
    ``GRACE`` + ``KILL_AFTER`` seconds at most, then SIGKILLs those still there. Exit code 0
    when every worker stopped by itself, else 1. Workers are started from this thread (the
    main one): Linux ties their parent-death signal to it.
    """

    def __init__(
        self, settings: Settings, sock: socket.socket, embedded_redis: bool, factory: AppFactory
    ) -> None:
        self.settings = settings
        self._sock = sock
        self._embedded_redis = embedded_redis
        self._factory = factory
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[BaseProcess] = []
        self._stop: int | None = None

    def run(self) -> int:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)
        log.info("Started parent process [%d]", os.getpid())
        self._workers = [self._start_worker() for _ in range(self.settings.workers)]
        failed = self._supervise()
        clean = self._stop_workers()
        log.info("Stopped parent process [%d]", os.getpid())
        return 0 if clean and not failed else 1

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self._stop is None:
            self._stop = signum

    def _start_worker(self) -> BaseProcess:
        worker = self._context.Process(
            target=_worker,
            args=(
                msgspec.json.encode(self.settings),
                self._sock,
                self._embedded_redis,
                self._factory,
                os.getpid(),
            ),
            name="ocpi-hub worker",
            daemon=True,
        )
        worker.start()
        return worker

    def _supervise(self) -> bool:
        """Until a signal: start a new worker for each that dies. True when a worker failed to
        start (then starting another would fail the same way)."""
        last_start = time.monotonic()
        while self._stop is None:
            wait([w.sentinel for w in self._workers if w.is_alive()], timeout=0.5)
            for index, worker in enumerate(self._workers):
                if worker.is_alive() or self._stop is not None:
                    continue
                worker.join()
                if worker.exitcode == STARTUP_FAILURE:
                    log.error("worker [%d] failed to start; stopping", worker.pid)
                    return True
                # At most one new worker a second: a worker that keeps dying must not spin.
                if time.monotonic() - last_start < 1.0:
                    continue
                log.warning(
                    "worker [%d] died (exit code %s); starting another", worker.pid, worker.exitcode
                )
                self._workers[index] = self._start_worker()
                last_start = time.monotonic()
        signame = signal.Signals(self._stop).name
        log.info("Received %s, stopping %d workers", signame, len(self._workers))
        return False

    def _stop_workers(self) -> bool:
        """SIGTERM every worker, SIGKILL those still there after the bound. True when all
        stopped by themselves."""
        for worker in self._workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.settings.shutdown_timeout + GRACE + KILL_AFTER
        while time.monotonic() < deadline:
            alive = [w.sentinel for w in self._workers if w.is_alive()]
            if not alive:
                break
            wait(alive, timeout=deadline - time.monotonic())
        clean = True
        for worker in self._workers:
            if worker.is_alive():
                log.error("worker [%d] did not stop in time; killing it", worker.pid)
                worker.kill()
                clean = False
            worker.join(5)  # SIGKILL ends a process at once; the bound is for the exception
            # A worker that got the signal before uvicorn took it over simply ended by it.
            if worker.exitcode not in (0, -signal.SIGTERM, -signal.SIGINT):
                clean = False
        return clean
