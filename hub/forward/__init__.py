"""The hub's outbound HTTP client: one pooled session per process, behind a small interface.

The rest of the hub calls ``PlatformClient.request`` or ``PlatformClient.ocpi`` and never sees
aiohttp. What every call the hub makes to a platform keeps, whatever URL it was given:

- the URL guard (``hub.urlguard``) on the address each connection is actually opened to, after
  name resolution; a refused URL is ``RefusedUrlError``;
- redirects are never followed: a 3xx is the platform's answer;
- an answer larger than ``max_response_size`` is refused (``AnswerTooLargeError``) without being
  held whole;
- transport failures become ``ReceiverUnreachableError`` (OCPI 4003) or ``ReceiverTimeoutError``
  (4002), and answers that must be OCPI but are not become ``PlatformError`` (``read_envelope``,
  the one reader of a platform's envelope). Their messages say
  what failed in general terms; the low-level error goes to the log only (a platform must not
  learn from them what listens where).
"""

from __future__ import annotations

import base64
import contextvars
import io
import ipaddress
import logging
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar, overload

import aiohttp
import msgspec
from aiohttp.abc import AbstractResolver, ResolveResult

from hub.errors import (
    AnswerTooLargeError,
    PlatformError,
    ReceiverTimeoutError,
    ReceiverUnreachableError,
    RefusedUrlError,
)
from hub.ocpi.envelope import Envelope
from hub.settings import Settings
from hub.urlguard import check, refusal

log = logging.getLogger("hub.forward")

_ENVELOPE = msgspec.json.Decoder(Envelope)
E = TypeVar("E")
_CHUNK = 64 * 1024
_CHUNKED_BODY = 1024 * 1024  # aiohttp's TOO_LARGE_BYTES_BODY

# A name -> the addresses to connect to (tests map names to 127.0.0.1 with it).
Resolve = Callable[[str, int], Awaitable[list[str]]]

# Why the connections of the request in progress were refused by the guard. The socket factory
# runs deep inside aiohttp (in tasks of its own for happy eyeballs); they share this list.
_REFUSED: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar(
    "hub_forward_refused", default=None
)


def authorization(token: str, *, base64_encoded: bool) -> str:
    """The Authorization header value: 2.2.1 wants Base64, many platforms want the raw token."""
    if base64_encoded:
        return "Token " + base64.b64encode(token.encode()).decode("ascii")
    return "Token " + token


class PlatformResponse(msgspec.Struct, frozen=True):
    status: int
    headers: Mapping[str, str]
    body: bytes


def _guarded_socket(address_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: the one place that sees the address a connection goes to."""
    family, kind, proto, _, sockaddr = address_info
    reason = refusal(ipaddress.ip_address(sockaddr[0]))
    if reason is not None:
        refused = _REFUSED.get()
        if refused is not None:
            refused.append(reason)
        raise ConnectionRefusedError(f"the URL guard refuses {reason}")
    return socket.socket(family=family, type=kind, proto=proto)


class _Resolver(AbstractResolver):
    """An injected ``Resolve`` as aiohttp's resolver."""

    def __init__(self, resolve: Resolve) -> None:
        self._resolve = resolve

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = []
        for address in await self._resolve(host, port):
            parsed = ipaddress.ip_address(address)
            found.append(
                ResolveResult(
                    hostname=host,
                    host=address,
                    port=port,
                    family=socket.AF_INET6 if parsed.version == 6 else socket.AF_INET,
                    proto=0,
                    flags=socket.AI_NUMERICHOST,
                )
            )
        return found

    async def close(self) -> None:
        return None


class PlatformClient:
    def __init__(
        self,
        *,
        timeout: float,
        max_response_size: int,
        allow_private_urls: bool,
        resolve: Resolve | None = None,
    ) -> None:
        self._timeout = timeout
        self._max_response_size = max_response_size
        self.allow_private_urls = allow_private_urls
        self._resolve = resolve
        self._session: aiohttp.ClientSession | None = None

    @classmethod
    def of(cls, settings: Settings, *, resolve: Resolve | None = None) -> PlatformClient:
        return cls(
            timeout=settings.forward_timeout,
            max_response_size=settings.max_response_size,
            allow_private_urls=settings.allow_private_urls,
            resolve=resolve,
        )

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=0,
            ttl_dns_cache=300,
            resolver=_Resolver(self._resolve) if self._resolve is not None else None,
            socket_factory=None if self.allow_private_urls else _guarded_socket,
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            # aiohttp would otherwise add a header the receiver did not ask for.
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def check(self, url: str) -> None:
        """``RefusedUrlError`` for a URL that this client would refuse before connecting."""
        check(url, allow_private=self.allow_private_urls)

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str,
        base64_encoded: bool,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> PlatformResponse:
        if self._session is None:
            raise RuntimeError("PlatformClient.start() was not called")
        # The URL itself was checked where the hub received it (``check``); the address is
        # checked here, on every connection, by the socket factory.
        sent = {
            "Authorization": authorization(token, base64_encoded=base64_encoded),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": str(uuid.uuid4()),
        }
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        seconds = timeout or self._timeout
        limit = aiohttp.ClientTimeout(total=seconds)
        # aiohttp warns (ResourceWarning) about bytes over 1 MiB: it writes them in one go, which
        # may hold the event loop; a file-like object is written in chunks.
        data: bytes | io.BytesIO | None = body
        if body is not None and len(body) > _CHUNKED_BODY:
            data = io.BytesIO(body)
        refused: list[str] = []
        context = _REFUSED.set(refused)
        try:
            async with self._session.request(
                method, url, data=data, headers=sent, timeout=limit, allow_redirects=False
            ) as response:
                return PlatformResponse(
                    status=response.status,
                    headers=dict(response.headers),
                    body=await self._read(response),
                )
        except TimeoutError as e:
            raise ReceiverTimeoutError(f"no answer within {seconds:g} s") from e
        except (aiohttp.ClientError, OSError, ValueError) as e:
            if refused:
                raise RefusedUrlError(f"its host is {refused[0]}") from e
            # Not repr(e): aiohttp's errors carry the request's headers, the token among them.
            log.info("%s %s failed: %s: %s", method, _without_query(url), type(e).__name__, e)
            raise ReceiverUnreachableError("could not connect") from e
        finally:
            _REFUSED.reset(context)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        """The whole body, unless it passes the limit: then the connection is dropped at once
        (aiohttp closes a connection whose answer was not read to its end)."""
        limit = self._max_response_size
        if response.content_length is not None and response.content_length > limit:
            raise AnswerTooLargeError(f"the answer is larger than the hub accepts ({limit} bytes)")
        body = bytearray()
        async for chunk in response.content.iter_chunked(_CHUNK):
            body += chunk
            if len(body) > limit:
                raise AnswerTooLargeError(
                    f"the answer is larger than the hub accepts ({limit} bytes)"
                )
        return bytes(body)

    async def ocpi(
        self,
        method: str,
        url: str,
        *,
        token: str,
        base64_encoded: bool,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> tuple[PlatformResponse, Envelope]:
        """A call whose answer must be an OCPI envelope (any status: the caller judges it)."""
        response = await self.request(
            method, url, token=token, base64_encoded=base64_encoded, body=body, timeout=timeout
        )
        return response, read_envelope(response)


@overload
def read_envelope(response: PlatformResponse) -> Envelope: ...


@overload
def read_envelope(response: PlatformResponse, decoder: msgspec.json.Decoder[E]) -> E: ...


def read_envelope(
    response: PlatformResponse, decoder: msgspec.json.Decoder[Any] = _ENVELOPE
) -> Any:
    """The OCPI envelope of a platform's answer (2.2.1 "Response format"), whatever its HTTP
    status; ``decoder`` may read a leaner shape of it. An answer that is not one is
    ``PlatformError`` "HTTP n without an OCPI envelope"; a caller that answers it with another
    OCPI status (a relayed call: 4000) says so in its own error."""
    try:
        return decoder.decode(response.body)
    except (msgspec.DecodeError, RecursionError) as e:  # deep nesting is no envelope either
        raise PlatformError(f"HTTP {response.status} without an OCPI envelope") from e


def _without_query(url: str) -> str:
    # Query strings may carry a response_url or filters; the log needs only where it went.
    return url.split("?", 1)[0]
