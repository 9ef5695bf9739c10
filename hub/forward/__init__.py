"""The hub's outbound HTTP client: one connection pool per process, behind a small interface.

The rest of the hub calls ``PlatformClient.request`` or ``PlatformClient.ocpi`` and never sees
the pool (``hub.forward.pool``: HTTP/1.1 kept-alive connections on asyncio, answers read with
httptools in ``hub.forward.connection``). What every call the hub makes to a platform keeps,
whatever URL it was given:

- the URL guard (``hub.urlguard``) on the address each connection is actually opened to, after
  name resolution; a refused URL is ``RefusedUrlError``;
- redirects are never followed: a 3xx is the platform's answer;
- an answer larger than ``max_response_size`` is refused (``AnswerTooLargeError``) without being
  held whole;
- transport failures become ``ReceiverUnreachableError`` (OCPI 4003) or ``ReceiverTimeoutError``
  (4002; the time limit covers connecting, sending and the whole answer), and answers that must
  be OCPI but are not become ``PlatformError`` (``read_envelope``, the one reader of a
  platform's envelope). Their messages say what failed in general terms; the low-level error
  goes to the log only (a platform must not learn from them what listens where).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, Final, TypeVar, overload

import msgspec

from hub.errors import PlatformError, ReceiverTimeoutError, ReceiverUnreachableError
from hub.forward.connection import BrokenAnswerError
from hub.forward.pool import IDLE_TIMEOUT, Pool, Resolve
from hub.ocpi.envelope import Envelope
from hub.ocpi.headers import new_id
from hub.settings import Settings
from hub.urlguard import check

__all__ = [
    "Headers",
    "PlatformClient",
    "PlatformResponse",
    "Resolve",
    "authorization",
    "read_envelope",
]

log = logging.getLogger("hub.forward")

_ENVELOPE = msgspec.json.Decoder(Envelope)
E = TypeVar("E")

# Header fields the client writes itself; a caller's field of the same name (in any case)
# takes the place of the client's, as it did with aiohttp.
_AUTHORIZATION: Final = 1
_REQUEST_ID: Final = 2
_CORRELATION_ID: Final = 4
_CONTENT_TYPE: Final = 8
_OWN = {
    "authorization": _AUTHORIZATION,
    "x-request-id": _REQUEST_ID,
    "x-correlation-id": _CORRELATION_ID,
    "content-type": _CONTENT_TYPE,
}
# Fields that frame the message: only the client writes them.
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})
# Methods whose request means to have a body: an empty one is said (RFC 9110 section 8.6).
_WITH_BODY: Final = frozenset({"POST", "PUT", "PATCH"})
# The codings the client decodes (hub.forward.connection), as aiohttp accepted and decoded them.
_ACCEPT: Final = "Accept-Encoding: gzip, deflate\r\n"
_AUTHORIZATIONS: Final = 10_000  # Authorization values kept per encoding (one per platform)


def authorization(token: str, *, base64_encoded: bool) -> str:
    """The Authorization header value: 2.2.1 wants Base64, many platforms want the raw token."""
    if base64_encoded:
        return "Token " + base64.b64encode(token.encode()).decode("ascii")
    return "Token " + token


class Headers(Mapping[str, str]):
    """An answer's header fields as the platform spelled them (the last of one spelling);
    looked up by name in any case (RFC 9110 section 5.1). Decoded on first use."""

    __slots__ = ("_lower", "_named", "_raw")

    def __init__(self, raw: list[bytes]) -> None:
        self._raw = raw
        self._named: dict[str, str] | None = None
        self._lower: dict[str, str] | None = None

    def _spelled(self) -> dict[str, str]:
        named = self._named
        if named is None:
            raw = self._raw
            # Latin-1 gives every byte back as it came when the value is sent on.
            named = self._named = {
                raw[i].decode("latin-1"): raw[i + 1].decode("latin-1")
                for i in range(0, len(raw), 2)
            }
        return named

    def __getitem__(self, name: str) -> str:
        named = self._spelled()
        found = named.get(name)
        if found is not None:
            return found
        lower = self._lower
        if lower is None:
            lower = self._lower = {k.lower(): v for k, v in named.items()}
        return lower[name.lower()]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            self[name]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self._spelled())

    def __len__(self) -> int:
        return len(self._spelled())

    def items(self) -> ItemsView[str, str]:
        return self._spelled().items()

    def keys(self) -> KeysView[str]:
        return self._spelled().keys()

    def values(self) -> ValuesView[str]:
        return self._spelled().values()

    def __repr__(self) -> str:
        return f"Headers({self._spelled()!r})"


class PlatformResponse(msgspec.Struct, frozen=True):
    status: int
    headers: Mapping[str, str]
    body: bytes


class PlatformClient:
    def __init__(
        self,
        *,
        timeout: float,
        max_response_size: int,
        allow_private_urls: bool,
        resolve: Resolve | None = None,
        ssl_context: ssl.SSLContext | None = None,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        """``ssl_context``: what https connections trust (the system's CAs by default);
        ``idle_timeout``: seconds a kept-alive connection may wait for its next request."""
        self._timeout = timeout
        self._idle_timeout = idle_timeout
        self._max_response_size = max_response_size
        self.allow_private_urls = allow_private_urls
        self._resolve = resolve
        self._ssl_context = ssl_context
        self._pool: Pool | None = None
        self._authorizations: tuple[dict[str, str], dict[str, str]] = ({}, {})

    @classmethod
    def of(
        cls,
        settings: Settings,
        *,
        resolve: Resolve | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> PlatformClient:
        return cls(
            timeout=settings.forward_timeout,
            max_response_size=settings.max_response_size,
            allow_private_urls=settings.allow_private_urls,
            resolve=resolve,
            ssl_context=ssl_context,
        )

    async def start(self) -> None:
        # The system's CAs, certificate and host name checked (SNI sent): Python's defaults.
        tls = self._ssl_context or ssl.create_default_context()
        self._pool = Pool(
            asyncio.get_running_loop(),
            resolve=self._resolve,
            allow_private=self.allow_private_urls,
            tls=tls,
            idle_timeout=self._idle_timeout,
        )

    async def close(self) -> None:
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

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
        pool = self._pool
        if pool is None:
            raise RuntimeError("PlatformClient.start() was not called")
        # The URL itself was checked where the hub received it (``check``); the address is
        # checked by the pool, on every connection it opens.
        seconds = timeout or self._timeout
        try:
            fields = self._fields(method, token, base64_encoded, body, headers)
            status, raw, content = await pool.request(
                method, url, fields, body, seconds, self._max_response_size
            )
        except TimeoutError as e:
            raise ReceiverTimeoutError(f"no answer within {seconds:g} s") from e
        except (OSError, ValueError, BrokenAnswerError) as e:
            # Not the request: its head carries the token.
            log.info("%s %s failed: %s: %s", method, _without_query(url), type(e).__name__, e)
            raise ReceiverUnreachableError("could not connect") from e
        return PlatformResponse(status=status, headers=Headers(raw), body=content)

    def _fields(
        self,
        method: str,
        token: str,
        base64_encoded: bool,
        body: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> str:
        """The request's header lines after Host, each ending in CRLF."""
        given = ""
        own = 0
        if headers:
            lines = []
            for name, value in headers.items():
                lower = name.lower()
                if lower in _FRAMING or _unsafe(name) or ":" in name or _unsafe(value):
                    raise ValueError(f"a header field the client cannot send: {name!r}")
                own |= _OWN.get(lower, 0)
                lines.append(f"{name}: {value}\r\n")
            given = "".join(lines)
        if not own & _AUTHORIZATION:
            known = self._authorizations[base64_encoded]
            sent = known.get(token)
            if sent is None:
                if len(known) >= _AUTHORIZATIONS:
                    known.clear()
                sent = known[token] = authorization(token, base64_encoded=base64_encoded)
            given = f"Authorization: {sent}\r\n{given}"
        if not own & _REQUEST_ID:
            given = f"X-Request-ID: {new_id()}\r\n{given}"
        if not own & _CORRELATION_ID:
            given = f"X-Correlation-ID: {new_id()}\r\n{given}"
        if body is not None:
            if not own & _CONTENT_TYPE:
                given = f"{given}Content-Type: application/json\r\n"
            return f"{given}Content-Length: {len(body)}\r\n{_ACCEPT}"
        if method in _WITH_BODY:
            return f"{given}Content-Length: 0\r\n{_ACCEPT}"
        return given + _ACCEPT

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


def _unsafe(text: str) -> bool:
    # A line break would end the field and start another the caller never meant.
    return "\n" in text or "\r" in text or "\0" in text


def _without_query(url: str) -> str:
    # Query strings may carry a response_url or filters; the log needs only where it went.
    return url.split("?", 1)[0]
