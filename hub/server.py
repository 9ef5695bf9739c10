"""Serving HTTP: the listening socket, uvicorn with the limits it lacks, and the processes.

- ``HubHttpProtocol``: uvicorn's httptools protocol, plus a deadline for each request's head and
  body (``client_timeout``), a cap on open connections (``max_connections``, idle ones closed
  first), a cap on the size of a request head, and the OCPI envelope with request ids on the
  errors uvicorn answers itself (a request it cannot parse).
- ``run``: one process serving, or a supervisor of ``workers`` processes sharing one socket.
  Shutdown is bounded at every level: a watchdog thread ends a process whose shutdown outlives
  ``shutdown_timeout`` by ``GRACE`` seconds, the supervisor SIGKILLs a worker that outlives
  that, and workers die with their supervisor (README: "Shutdown").
"""

from __future__ import annotations

import asyncio
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
import uuid
from collections.abc import Callable
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from types import FrameType
from typing import Any

import msgspec
import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from hub import logs
from hub.errors import StartupError
from hub.lifeline import parent_death_signal
from hub.ocpi.envelope import envelope
from hub.ocpi.status import CLIENT_ERROR, SERVER_ERROR
from hub.settings import Settings

log = logging.getLogger("hub.server")

# Seconds a process may take, after ``shutdown_timeout``, to close what it holds (Redis, queue
# leases, the HTTP client) before its watchdog ends it.
GRACE = 5.0
# Seconds more the supervisor gives a worker, after the worker's own watchdog, before SIGKILL.
KILL_AFTER = 2.0
# Exit code of a process ended by its watchdog.
EXIT_HUNG = 1
# The largest request head (request line and headers) read before answering 431: generous for
# OCPI (a token, ids, routing headers), small enough that no client can fill the memory.
MAX_HEAD_SIZE = 64 * 1024
# Open files besides the client connections: Redis connections (one per delivered queue, README
# "Running in production"), connections to platforms, the listening socket, logs.
OTHER_FILES = 1024

AppFactory = Callable[[Settings, bool], Any]


# --- the listening socket and the process limits ---------------------------------------------


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound once here and shared by every worker."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as e:
        raise StartupError(f"cannot listen on {host}:{port}: {e}") from e
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as e:
        sock.close()
        raise StartupError(f"cannot listen on {host}:{port}: {e.strerror or e}") from e
    return sock


def check_port_free(host: str, port: int) -> None:
    """Refuse to start when ``port`` (the metrics port, which every worker binds itself with
    SO_REUSEPORT) is taken by another program: better now than as a failed worker."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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


# --- the HTTP protocol -----------------------------------------------------------------------


def _safe_id(value: bytes | None) -> bytes:
    """An id to echo if it is printable ASCII without spaces and at most 255 characters,
    else a new UUID4 (OCPI 2.2.1 transport and format: X-Request-ID, X-Correlation-ID)."""
    if value and len(value) <= 255 and all(0x21 <= b <= 0x7E for b in value):
        return value
    return str(uuid.uuid4()).encode()


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits uvicorn does not have.

    uvicorn only bounds the time between requests (``timeout_keep_alive``). Here a client has
    ``client_timeout`` seconds from connecting to its first byte, and from a request's first
    byte to its last; then the connection is closed. A request head (request line and headers)
    may not pass ``MAX_HEAD_SIZE``. When a new connection would pass ``max_connections``, the
    connection idle the longest (kept alive between two requests) is closed for it; only when
    none is idle is the new one refused. A new connection is not idle: it has
    ``client_timeout`` to send its request.

    ``configured()`` makes a subclass with the settings' values: uvicorn builds one protocol
    object per connection from the class alone.
    """

    client_timeout: float = 30.0
    max_connections: int = 2048
    _last_refusal_logged = -math.inf

    @classmethod
    def configured(cls, settings: Settings) -> type[HubHttpProtocol]:
        attributes = {
            "client_timeout": settings.client_timeout,
            "max_connections": settings.max_connections,
        }
        return type("ConfiguredHubHttpProtocol", (cls,), attributes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # Bytes of the request head read so far; None while a body is read.
        self._head_size: int | None = 0
        # From a request's first byte to its last.
        self._receiving = False
        # Since when the connection waits, kept alive, for its next request; None while it has
        # a request (or has not had one yet).
        self._idle_since: float | None = None
        self._ids: dict[bytes, bytes] = {}

    # -- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # The first byte of a request starts its deadline (the parser may not say so: after an
        # Upgrade request it ignores what follows).
        if self._deadline is None:
            self._arm()
        # While a head is read, feed the parser no more than MAX_HEAD_SIZE of it: httptools
        # itself keeps a header line of any length in memory.
        while self._head_size is not None:
            room = MAX_HEAD_SIZE - self._head_size
            if room <= 0:
                self._answer_and_close(431, CLIENT_ERROR, "request head too large")
                return
            if len(data) <= room:  # the usual case: no copy
                self._head_size += len(data)
                super().data_received(data)
                return
            piece, data = data[:room], data[room:]
            self._head_size += len(piece)
            super().data_received(piece)
            if not data or self.transport.is_closing():
                return
        super().data_received(data)

    # -- the parser's callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._idle_since = None
        self._receiving = True
        self._ids = {}
        if self._deadline is None:  # a pipelined request, read with the end of the one before
            self._arm()

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        lower = name.lower()
        if lower in (b"x-request-id", b"x-correlation-id"):
            self._ids[lower] = value

    def on_headers_complete(self) -> None:
        super().on_headers_complete()  # may refuse the URL: then the head is still ours to answer
        self._head_size = None

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = False
        self._head_size = 0
        self._ids = {}
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._receiving and not self.pipeline:
            self._idle_since = time.monotonic()

    # -- the limits

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.client_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        running = self.cycle is not None and not self.cycle.response_complete
        waiting = running and (not self._receiving or self.cycle.waiting_for_100_continue)
        if self.flow.read_paused or waiting:
            # The hub stopped reading (the app has not taken the body yet, or a pipelined
            # request waits), the app works on a request it has whole, or the client waits for
            # its "100 Continue": not the client's delay.
            self._arm()
            return
        if self._receiving and self._head_size is not None:
            # A head is half read: say why before closing.
            self._answer_and_close(408, CLIENT_ERROR, "request not received in time")
            return
        # Nothing sent at all, or a body half sent to an app that is running: closing makes its
        # receive() return http.disconnect.
        self.transport.close()

    def _make_room(self) -> None:
        if len(self.connections) <= self.max_connections:
            return
        others = [
            c
            for c in self.connections
            if isinstance(c, HubHttpProtocol) and c is not self and not c.transport.is_closing()
        ]
        if len(others) < self.max_connections:
            return
        idle = [c for c in others if c._idle_since is not None]
        if idle:
            min(idle, key=lambda c: c._idle_since or 0.0).transport.close()
            return
        now = time.monotonic()
        if now - HubHttpProtocol._last_refusal_logged > 10:
            HubHttpProtocol._last_refusal_logged = now
            log.warning("refusing connections: %d open, none idle (max_connections)", len(others))
        self._answer_and_close(503, SERVER_ERROR, "too many connections, try again later")

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn would advise installing a WebSocket library: the hub serves none on purpose.
        self.logger.debug("ignored a request to upgrade the connection")

    # -- answers of the protocol itself

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, as an OCPI envelope."""
        self._answer_and_close(400, CLIENT_ERROR, msg)

    def _answer_and_close(self, status: int, ocpi_status: int, message: str) -> None:
        """Answer the request being read, if no app has it, and close the connection.

        Once the head was read, the app answers (or has answered) that request; while an app
        answers an earlier one, an answer here would be taken for its. Then only close.
        """
        app_has_it = self._head_size is None
        app_busy = self.cycle is not None and not self.cycle.response_complete
        if app_has_it or app_busy:
            self.transport.close()
            return
        body = envelope(None, ocpi_status, message)
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", _safe_id(self._ids.get(b"x-request-id"))),
            (b"x-correlation-id", _safe_id(self._ids.get(b"x-correlation-id"))),
        ]
        lines = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in headers)]
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        self.transport.close()


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

    return create_app(settings, embedded_redis=embedded_redis)


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
