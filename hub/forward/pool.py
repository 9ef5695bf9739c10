"""The connections the hub keeps open to platforms: one pool per process, per origin a stack of
idle connections.

A request takes the connection that was idle the shortest (the most likely to be still open at
the receiver's end), else opens one: the name is resolved (the injected ``Resolve``, else
``getaddrinfo``; kept ``_DNS_SECONDS``), each address is judged by the URL guard
(``hub.urlguard.refusal``) unless private URLs are allowed, and tried in turn. After a whole
answer the connection goes back on its origin's stack, unless either side ends it
(``Connection: close``, HTTP/1.0, a failed, cancelled or cut-short exchange). Idle connections
are closed after ``idle_timeout`` seconds (15 by default); at most ``_IDLE_PER_ORIGIN`` are kept
per origin.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Final

from hub.errors import RefusedUrlError
from hub.forward.connection import Answer, Connection
from hub.urlguard import refusal

# A name -> the addresses to connect to (tests map names to 127.0.0.1 with it).
Resolve = Callable[[str, int], Awaitable[list[str]]]

IDLE_TIMEOUT: Final = 15.0  # as aiohttp's keepalive_timeout, which the hub used before
# As many as the delivery engine may have in use at once (256 platforms, 4 lanes each): one
# host may serve many platforms (a platform provider hosting many eMSPs), and a connection
# closed only to be opened again a moment later costs more than an idle one.
_IDLE_PER_ORIGIN: Final = 1024
_DNS_SECONDS: Final = 300.0  # as aiohttp's ttl_dns_cache, which the hub used before
_ORIGINS: Final = 4096  # origins remembered; past it, those without idle connections go
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# A reused connection that fails before a byte of the answer has arrived was most likely closed
# by the receiver, idle, as the request went out (RFC 9112 section 9.3.1.1): the request is sent
# once more on a new connection. Only for the idempotent methods (RFC 9110 section 9.2.2): the
# receiver might have read the request and failed before answering it, and a repeated PUT or
# DELETE leaves what one would, a repeated POST (a START_SESSION command) or PATCH may not. Those
# fail with 4003 as any unreachable receiver does, and their sender (or the delivery queue)
# decides.
_RETRIED: Final = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
# Characters a request target may carry as they are; others are percent-encoded (as aiohttp's
# URL handling did), so that nothing a platform put in a URL can end the request line.
_TARGET_SAFE: Final = "/?#[]@!$&'()*+,;=:-._~%"


class Origin:
    """Where connections go: scheme, host and port, and the idle connections to it."""

    __slots__ = (
        "addresses",
        "host",
        "host_header",
        "idle",
        "literal",
        "port",
        "resolved_until",
        "sweep",
        "tls",
    )

    def __init__(self, host: str, port: int, host_header: str, tls: ssl.SSLContext | None) -> None:
        self.host = host
        self.port = port
        self.host_header = host_header
        self.tls = tls
        try:
            ipaddress.ip_address(host)
            self.literal = True
        except ValueError:
            self.literal = False
        self.addresses: list[str] = [host] if self.literal else []
        self.resolved_until = 0.0
        self.idle: list[Connection] = []  # oldest first: taken from the end, swept from the start
        self.sweep: asyncio.TimerHandle | None = None

    def take(self) -> Connection | None:
        idle = self.idle
        while idle:
            connection = idle.pop()
            if connection.usable:  # the receiver may have closed it since
                return connection
        return None


class Pool:
    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        resolve: Resolve | None,
        allow_private: bool,
        tls: ssl.SSLContext,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self._loop = loop
        self._idle_timeout = idle_timeout
        self._resolve = resolve
        self._allow_private = allow_private
        self._tls = tls
        self._origins: dict[str, Origin] = {}  # by the URL's text up to its path
        self._opened: set[Connection] = set()
        self._closed = False

    async def request(
        self, method: str, url: str, fields: str, body: bytes | None, seconds: float, limit: int
    ) -> Answer:
        """One exchange: ``fields`` are the header lines (CRLF-terminated) after Host."""
        loop = self._loop
        deadline = loop.time() + seconds
        origin, target = self._locate(url)
        head = f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n{fields}\r\n".encode()
        head_only = method == "HEAD"
        connection = origin.take()
        if connection is not None:
            try:
                answer = await connection.exchange(head, body, deadline, limit, head_only)
            except OSError as e:
                if isinstance(e, TimeoutError) or connection.answered or method not in _RETRIED:
                    raise
                connection = await self._open(origin, deadline)
                answer = await connection.exchange(head, body, deadline, limit, head_only)
        else:
            connection = await self._open(origin, deadline)
            answer = await connection.exchange(head, body, deadline, limit, head_only)
        self._keep(origin, connection)
        return answer

    async def close(self) -> None:
        """Close every connection, idle or not, and wait (briefly) until they are gone."""
        self._closed = True
        for origin in self._origins.values():
            if origin.sweep is not None:
                origin.sweep.cancel()
                origin.sweep = None
            origin.idle.clear()
        self._origins.clear()
        opened = list(self._opened)
        gone = [connection.lost() for connection in opened]
        for connection in opened:
            connection.abort()
        if gone:
            await asyncio.wait(gone, timeout=5)

    # -- origins and targets

    def _locate(self, url: str) -> tuple[Origin, str]:
        """The URL's origin, and the request target: what follows the authority, without the
        fragment, percent-encoded where it would not be a valid target as it is."""
        start = url.find("://") + 3
        end = url.find("/", start)
        if end == -1:
            end = len(url)
        for mark in "?#":
            found = url.find(mark, start, end)
            if found != -1:
                end = found
        key = url[:end]
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origin(urllib.parse.urlsplit(key))
            self._remember(key, origin)
        target = url[end:]
        if "#" in target:
            target = target[: target.index("#")]
        if not target.startswith("/"):
            target = "/" + target
        if not target.isascii() or not target.isprintable() or " " in target:
            target = urllib.parse.quote(target, safe=_TARGET_SAFE)
        return origin, target

    def _origin(self, parts: urllib.parse.SplitResult) -> Origin:
        scheme = parts.scheme.lower()
        default = _DEFAULT_PORTS.get(scheme)
        host = parts.hostname
        if default is None:
            raise ValueError("not an http or https URL")
        if not host:
            raise ValueError("a URL without a host")
        if not host.isascii():
            host = host.encode("idna").decode("ascii")
        port = parts.port or default
        shown = f"[{host}]" if ":" in host else host
        host_header = shown if port == default else f"{shown}:{port}"
        return Origin(host, port, host_header, self._tls if scheme == "https" else None)

    def _remember(self, key: str, origin: Origin) -> None:
        origins = self._origins
        if len(origins) >= _ORIGINS:
            for known in [k for k, o in origins.items() if not o.idle and o.sweep is None]:
                del origins[known]
        origins[key] = origin

    # -- connections

    async def _open(self, origin: Origin, deadline: float) -> Connection:
        loop = self._loop
        refused: list[str] = []
        failure: OSError | None = None
        async with asyncio.timeout_at(deadline):
            for address in await self._addresses(origin):
                if not self._allow_private:
                    reason = refusal(ipaddress.ip_address(address))
                    if reason is not None:
                        refused.append(reason)
                        continue
                connection = Connection(loop, self._opened)
                try:
                    await loop.create_connection(
                        _returning(connection),
                        address,
                        origin.port,
                        ssl=origin.tls,
                        server_hostname=origin.host if origin.tls is not None else None,
                    )
                except OSError as e:
                    failure = e
                    continue
                return connection
        if refused:
            raise RefusedUrlError(f"its host is {refused[0]}")
        origin.resolved_until = 0.0  # none answered: ask the resolver again next time
        raise failure or OSError(f"{origin.host} has no address")

    async def _addresses(self, origin: Origin) -> list[str]:
        if origin.literal or (origin.addresses and self._loop.time() < origin.resolved_until):
            return origin.addresses
        if self._resolve is not None:
            found = await self._resolve(origin.host, origin.port)
        else:
            infos = await self._loop.getaddrinfo(origin.host, origin.port, type=socket.SOCK_STREAM)
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        origin.addresses = found
        origin.resolved_until = self._loop.time() + _DNS_SECONDS
        return found

    def _keep(self, origin: Origin, connection: Connection) -> None:
        if not connection.usable or self._closed:
            connection.abort()  # its receiver ends it, or it may still carry a body's rest
            return
        now = connection.idle_since = self._loop.time()
        idle = origin.idle
        idle.append(connection)
        if len(idle) > _IDLE_PER_ORIGIN:
            idle.pop(0).close()
        if origin.sweep is None:
            origin.sweep = self._loop.call_at(now + self._idle_timeout, self._sweep, origin)

    def _sweep(self, origin: Origin) -> None:
        """Close the connections idle for ``idle_timeout`` (the oldest, at the bottom)."""
        origin.sweep = None
        # A little early rather than a timer that fires again at once for the next one.
        cut = self._loop.time() + 0.05 - self._idle_timeout
        idle = origin.idle
        expired = 0
        while expired < len(idle) and idle[expired].idle_since <= cut:
            idle[expired].close()
            expired += 1
        del idle[:expired]
        if idle and not self._closed:
            origin.sweep = self._loop.call_at(
                idle[0].idle_since + self._idle_timeout, self._sweep, origin
            )


def _returning(connection: Connection) -> Callable[[], Connection]:
    return lambda: connection
