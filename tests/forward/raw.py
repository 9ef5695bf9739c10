"""Real TCP servers on loopback whose answers a test writes byte for byte (the platforms the
outbound client talks to, broken in the ways real ones are), and a client made for them."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from hub.forward import PlatformClient, PlatformResponse

OK = b'{"status_code":1000,"timestamp":"2026-01-01T00:00:00Z"}'


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    fields: list[tuple[str, str]]  # as sent, in order
    body: bytes

    def field(self, name: str) -> list[str]:
        return [v for n, v in self.fields if n.lower() == name.lower()]


class Peer:
    """One accepted connection, seen from the server."""

    def __init__(
        self,
        number: int,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        seen: list[Request],
    ) -> None:
        self.number = number  # 0 for the first connection the server accepted
        self.reader = reader
        self.writer = writer
        self._seen = seen  # every request the server read, on any connection

    async def request(self) -> Request | None:
        """The next request on this connection; None when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ")
        fields = [(n, v) for n, _, v in (line.partition(": ") for line in lines[1:] if line)]
        length = int(next((v for n, v in fields if n.lower() == "content-length"), "0"))
        body = await self.reader.readexactly(length)
        request = Request(method, target, fields, body)
        self._seen.append(request)
        return request

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, body: bytes = OK, *, status: str = "200 OK", extra: bytes = b"") -> None:
        await self.send(
            b"HTTP/1.1 " + status.encode() + b"\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n" + body
        )

    async def closed_by_client(self) -> bool:
        """Wait until the client ends the connection (True), or sends more (False)."""
        try:
            return await self.reader.read(1) == b""
        except ConnectionError:
            return True

    def close(self) -> None:
        self.writer.close()


Script = Callable[[Peer], Awaitable[None]]


class Server:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.accepted = 0
        self.requests: list[Request] = []
        self.port = 0
        self._writers: list[asyncio.StreamWriter] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = Peer(self.accepted, reader, writer, self.requests)
        self.accepted += 1
        self._writers.append(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self.script(peer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client went: nothing more to say
        except asyncio.CancelledError:
            # The server is being stopped. Ended quietly: asyncio's stream server (3.11) logs
            # a handler task that ends cancelled as an error.
            pass
        finally:
            writer.close()

    def url(self, path: str = "/ocpi/versions", *, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


async def answering(peer: Peer) -> None:
    """A well-behaved receiver: every request on the connection answered, kept alive."""
    while await peer.request() is not None:
        await peer.answer()


@contextlib.asynccontextmanager
async def serving(
    script: Script, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> AsyncIterator[Server]:
    """A server on ``host`` that runs ``script`` for each connection; all closed at the end."""
    server = Server(script)
    listening = await asyncio.start_server(server._connected, host, 0, ssl=tls)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        for writer in server._writers:
            writer.close()
        for task in list(server._tasks):
            task.cancel()
        await asyncio.gather(*server._tasks, return_exceptions=True)
        await listening.wait_closed()


@contextlib.asynccontextmanager
async def client(**settings: Any) -> AsyncIterator[PlatformClient]:
    """A started client that may reach loopback (``settings`` override the defaults)."""
    given: dict[str, Any] = {
        "timeout": 5,
        "max_response_size": 1024 * 1024,
        "allow_private_urls": True,
    }
    given.update(settings)
    made = PlatformClient(**given)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


async def get(made: PlatformClient, url: str, method: str = "GET", **kw: Any) -> PlatformResponse:
    return await made.request(method, url, token="t", base64_encoded=False, **kw)


def run(test: Callable[[], Coroutine[Any, Any, None]]) -> Callable[[], None]:
    """A test of the client: its coroutine run in an event loop of its own, bounded in time."""

    def sync() -> None:
        asyncio.run(asyncio.wait_for(test(), 30))

    sync.__name__ = sync.__qualname__ = test.__name__
    sync.__doc__ = test.__doc__
    return sync
