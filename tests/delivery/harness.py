"""In-process delivery: the real Deliverer, Queue and PlatformStore against a real Redis of the
test's own, sending to small real receivers on 127.0.0.1 (each in a thread of its own, so that
the test's event loop holds only the hub's tasks)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

import msgspec

from hub.delivery.messages import Message
from hub.delivery.queue import Queue
from hub.delivery.worker import Deliverer
from hub.forward import PlatformClient
from hub.lifecycle import Lifecycle
from hub.ocpi.versions import Endpoint
from hub.records import CONNECTED, Party, Platform
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.connection import RedisClient, open_redis, ready
from hub.store.platforms import PlatformStore
from tests.waiting import wait_for_async

OK = json.dumps(
    {"data": None, "status_code": 1000, "status_message": "OK", "timestamp": "2026-01-01T00:00:00Z"}
).encode()


@dataclass(frozen=True)
class Received:
    method: str
    path: str  # with the query, as sent
    body: Any
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    at: float = field(default_factory=time.monotonic)  # when it arrived


# What a receiver answers a call with: (HTTP status, body); None for its usual answer.
Reply = Callable[[Received], tuple[int, bytes] | None]


class Receiver:
    """A platform's OCPI server, reduced to what delivery needs: it takes every call (OCPI
    1000), or answers 503 while ``down``, or holds calls while ``hang`` is set, or answers what
    ``reply`` says. ``received``: the calls it took; ``arrived``: every call, taken or not."""

    def __init__(self, reply: Reply | None = None) -> None:
        self.received: list[Received] = []
        self.arrived: list[Received] = []
        self.down = False
        self.reply = reply
        self.hang = threading.Event()  # while set, calls wait (until released or stopped)
        self._release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                call = Received(
                    self.command,
                    self.path,
                    json.loads(raw) if raw else None,
                    {name.lower(): value for name, value in self.headers.items()},
                )
                with receiver._lock:
                    receiver.arrived.append(call)
                if receiver.down:
                    self._send(503, b"")
                    return
                answer = receiver.reply(call) if receiver.reply is not None else None
                if answer is not None:
                    self._send(*answer)
                    return
                with receiver._lock:
                    receiver.received.append(call)
                if receiver.hang.is_set():
                    receiver._release.wait(30)
                self._send(200, OK)

            def _send(self, status: int, body: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the hub gave up on the call meanwhile
                    pass

            do_GET = do_PUT = do_PATCH = do_POST = do_DELETE = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def release(self) -> None:
        """Answer the calls held while ``hang`` was set (and the later ones at once)."""
        self.hang.clear()
        self._release.set()

    def paths(self, prefix: str = "/ocpi/2.2.1/locations/") -> list[str]:
        """The paths of the calls it took (by default: of locations)."""
        with self._lock:
            return [r.path for r in self.received if r.path.startswith(prefix)]

    def tried(self, prefix: str = "/ocpi/2.2.1/locations/") -> list[str]:
        """The paths of every call that arrived, taken or not (by default: of locations; the
        keep-alives and probes of the versions are left out)."""
        with self._lock:
            return [r.path for r in self.arrived if r.path.startswith(prefix)]

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


@dataclass
class Hub:
    """What a hub process delivers with, wired as ``hub.app`` wires it."""

    redis: RedisClient
    store: PlatformStore
    queue: Queue
    deliverer: Deliverer
    settings: Settings
    lifecycle: Lifecycle  # the operator's actions (suspend, resume, remove)

    async def add_platform(
        self, party_id: str, receiver: Receiver, *, status: str = CONNECTED, token: bool = True
    ) -> str:
        """A registered eMSP that receives locations at ``receiver`` (CONNECTED unless said
        otherwise), called with the token ``token-{party_id}`` (none: ``token=False``)."""
        created, _ = await self.store.create(party_id, [Party.of("NL", party_id, "EMSP")], "auto")

        def registered(platform: Platform) -> Platform:
            platform.version = "2.2.1"
            platform.registered_by = "hub"  # no grace before the first call (see Deliverer)
            platform.platform_versions_url = f"{receiver.url}/ocpi/versions"
            platform.endpoints = [
                Endpoint("locations", f"{receiver.url}/ocpi/2.2.1/locations", "RECEIVER")
            ]
            platform.status = status
            return platform

        outbound = f"token-{party_id}" if token else None
        await self.store.update(created.id, registered, outbound=outbound)
        return created.id

    async def status(self, platform_id: str) -> str:
        platform = await self.store.get(platform_id)
        assert platform is not None
        return platform.status

    async def push(self, platform_id: str, *location_ids: str) -> None:
        await self.queue.put([(platform_id, location(i)) for i in location_ids])


def location(location_id: str) -> Message:
    """A broadcast PUT of a location (the body is all the receiver looks at)."""
    return Message(
        module="locations",
        interface="RECEIVER",
        method="PUT",
        path=f"NL/CPO/{location_id}",
        body=msgspec.Raw(json.dumps({"id": location_id}).encode()),
        sender=("NL", "HUB"),
        receiver=None,
        object=f"locations:NL/CPO/{location_id}",  # as hub.broadcast makes it
        full_state=True,
        correlation_id=str(uuid.uuid4()),
        enqueued_at=time.time(),
    )


@asynccontextmanager
async def hub(redis_url: str, **settings: Any) -> AsyncIterator[Hub]:
    """``redis_cluster=True``: ``redis_url`` is a node of a Redis Cluster."""
    # The receivers are on 127.0.0.1.
    chosen = Settings(redis_url=redis_url, **{"allow_private_urls": True, **settings})
    redis = open_redis(redis_url, cluster=chosen.redis_cluster)
    await ready(redis)
    peers = PlatformClient.of(chosen)
    await peers.start()
    try:
        store = PlatformStore(redis)
        queue = Queue(redis)
        deliverer = Deliverer(chosen, PlatformCache(redis, store), store, queue, peers)
        yield Hub(redis, store, queue, deliverer, chosen, Lifecycle(chosen, store, peers, queue))
    finally:
        await peers.close()
        await redis.aclose()


@asynccontextmanager
async def running(deliverer: Deliverer) -> AsyncIterator[asyncio.Task[None]]:
    """``deliverer.run()`` as a task, cancelled (and awaited) at the end."""
    task = asyncio.create_task(deliverer.run(), name="delivery")
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.wait({task}, timeout=30)


async def until(check: Callable[[], Awaitable[Any]], what: str, timeout: float = 20.0) -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    return await wait_for_async(check, what, timeout=timeout)
