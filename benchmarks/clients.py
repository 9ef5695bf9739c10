"""Outbound HTTP clients compared for the hub's forwarding (issue 14): each client behind
``hub.forward``'s interface, measured on the same calls and on the same robustness checks.

    python benchmarks/clients.py [--clients hub,aiohttp,...] [--seconds 5] [--requests N]
                                 [--repeat 3] [--json out.json]
    python benchmarks/clients.py --robustness [--clients ...] [--json out.json]

Run it from the repository root with the project's Python. The third-party clients are not
dependencies of the hub: a client whose package is not installed is skipped, saying so
(``pip install pyreqwest rnet aiosonic httpx``; httpx wants ``sniffio`` too, or httpcore
tries to import it again on every call).

Every client makes the call the way ``PlatformClient.request`` does: the Authorization header
(Base64 token), a new X-Request-ID and X-Correlation-ID per call, Content-Type for a body, no
redirects followed, no proxy, a total timeout per call, and the answer read in chunks up to a
size limit (the size limit is refused without holding the answer whole); a failure is one of
the hub's errors (timeout, unreachable, too large, refused URL). ``hub`` is
``hub.forward.PlatformClient`` of this checkout itself.

**Benchmark.** ``benchmarks/receiver.py`` (uvloop + httptools) runs in a process of its own
and plays a CPO on 127.0.0.1. Each client runs in a fresh interpreter of its own (on uvloop,
the loop uvicorn picks for the hub when it is installed) and sends, for each case, at
``--concurrency`` and at ``--latency-concurrency`` calls in flight:

* ``put``: ``PUT .../locations/receiver/BE/BEC/LOC1`` with the official location example
  (``tests/examples/2.2.1/location_example.json``, compact), which the receiver checks byte
  for byte;
* ``get``: ``GET .../locations/sender/LOC1``.

The receiver answers both with the OCPI envelope (``{"data":null,"status_code":1000,...}``,
about 100 bytes). Every answer is checked (HTTP 200 and that envelope; its timestamp is the
receiver's second), and the receiver's counters must show every call arrived with a good token
and body; any error or bad answer fails the run (exit status 1). A run lasts ``--seconds`` or
``--requests`` calls, whichever ends first, after an unmeasured ``--warmup``. Reported per run:
req/s, p50 and p99 latency, the client process's CPU per call (``time.process_time``: all its
threads, so a Rust client's runtime threads count), and the CPU of the client, the receiver
and the rest of the machine (``other``: noise) in % of a core.

**Robustness** (``--robustness``). Small local servers (a process of their own; plain HTTP and
two TLS ports) and, per client, a fresh interpreter running these checks, printed as a matrix:

* ``timeout``: a server that reads the request and never answers; the call must fail as a
  timeout within its total timeout (+1 s);
* ``refused``: a port nobody listens on: unreachable, at once;
* ``idle-close``: the server closes a kept-alive connection 0.3 s after answering; a POST (not
  idempotent, so a client may not resend it blindly) 0.8 s later must succeed;
* ``after-timeout``: a call times out (the server answers it 2 s later, on that connection);
  calls right after and after the late answer must get their own answers;
* ``truncated``: Content-Length 1000, 10 bytes, then the server closes: an error, not a short
  body; the next call succeeds;
* ``chunked``: a chunked answer in three pieces, returned whole;
* ``large-length`` / ``large-chunked``: a 20 MB answer (with Content-Length / chunked) and a
  1 MB limit: "too large", the peak RSS of the client process grows by less than 10 MB, and the
  next call succeeds;
* ``tls``: HTTPS to 127.0.0.1 with a certificate of a CA given to the client (generated with
  ``openssl``) succeeds, and to a server whose certificate is of another CA fails;
* ``guard``: the client lets the hub check the address a connection goes to after name
  resolution (the URL guard, ``hub.urlguard``): with the guard on, a call to 127.0.0.1 is
  refused before any connection is made. Clients with no such hook are marked ``no``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.metadata
import ipaddress
import json
import math
import os
import platform as platform_module
import re
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import ExitStack, suppress
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for entry in (str(ROOT), str(HERE)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

import lean  # noqa: E402
from receiver import forward_config  # noqa: E402

from hub.errors import (  # noqa: E402
    AnswerTooLargeError,
    HubError,
    ReceiverTimeoutError,
    ReceiverUnreachableError,
    RefusedUrlError,
)
from hub.forward import PlatformClient, PlatformResponse, authorization  # noqa: E402
from hub.urlguard import refusal  # noqa: E402

LOCATION = ROOT / "tests" / "examples" / "2.2.1" / "location_example.json"
RECEIVER = HERE / "receiver.py"
TOKEN = "clients-benchmark-token"
PARTY = "cpo"  # the receiver's path prefix for the CPO it plays
PUT_PATH = f"/{PARTY}/ocpi/2.2.1/locations/receiver/BE/BEC/LOC1"
GET_PATH = f"/{PARTY}/ocpi/2.2.1/locations/sender/LOC1"
# The receiver's envelope: this, a timestamp (YYYY-MM-DDTHH:MM:SSZ, refreshed each second), '"}'.
ENVELOPE_HEAD = b'{"data":null,"status_code":1000,"status_message":"Success","timestamp":"'
ENVELOPE_SIZE = len(ENVELOPE_HEAD) + 20 + 2
CHUNK = 64 * 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
ALL_CLIENTS = ("hub", "aiohttp", "aiohttp-tuned", "pyreqwest", "rnet", "aiosonic", "httpx")
PACKAGES = ("aiohttp", "uvloop", "httptools", "pyreqwest", "rnet", "aiosonic", "httpx")

# --- the clients -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    timeout: float = 10.0
    max_response_size: int = 32 * 1024 * 1024  # the hub's default --max-response-size
    ca_file: Path | None = None  # trusted for HTTPS, besides the system's CAs
    guard: bool = False  # refuse connections to non-public addresses (hub.urlguard)


class GuardRefusedError(ConnectionRefusedError):
    """The URL guard refused the address a connection was about to be opened to."""


def guarded_address(host: str) -> None:
    reason = refusal(ipaddress.ip_address(host))
    if reason is not None:
        raise GuardRefusedError(f"the URL guard refuses {reason}")


def _by_guard(error: BaseException) -> GuardRefusedError | None:
    """The guard's refusal somewhere in the chain of ``error`` (libraries wrap it)."""
    seen: set[int] = set()
    found: BaseException | None = error
    while found is not None and id(found) not in seen:
        if isinstance(found, GuardRefusedError):
            return found
        seen.add(id(found))
        nested = getattr(found, "os_error", None)  # aiohttp's ClientConnectorError
        if isinstance(nested, GuardRefusedError):
            return nested
        found = found.__cause__ or found.__context__
    return None


def hub_headers(token: str, body: bytes | None) -> dict[str, str]:
    """What ``PlatformClient.request`` sends with every call."""
    sent = {
        "Authorization": authorization(token, base64_encoded=True),
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
    }
    if body is not None:
        sent["Content-Type"] = "application/json"
    return sent


def too_large(limit: int) -> AnswerTooLargeError:
    return AnswerTooLargeError(f"the answer is larger than the hub accepts ({limit} bytes)")


class Limited:
    """An answer read chunk by chunk, refused as soon as it passes the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            raise too_large(self.limit)
        self.parts.append(chunk)

    def body(self) -> bytes:
        return b"".join(self.parts)


def declared_length(headers: Mapping[str, str], limit: int) -> int | None:
    """The answer's Content-Length (refused at once when over the limit), or None."""
    raw = headers.get("content-length")
    if raw is None or not raw.isdigit():
        return None
    length = int(raw)
    if length > limit:
        raise too_large(limit)
    return length


def ssl_context(options: Options) -> ssl.SSLContext | None:
    if options.ca_file is None:
        return None
    return ssl.create_default_context(cafile=str(options.ca_file))


class Client:
    """One HTTP client behind ``PlatformClient``'s interface (see the module's docstring)."""

    name = ""
    package: str | None = None  # the distribution that must be installed
    # Whether the library lets the hub check the connected address, and where (its API).
    guard_hook = ""
    guard_supported = False
    # The client's API takes whole seconds only for its timeout (rnet).
    whole_seconds = False
    # Clients that take no CA of their own: the CA comes from SSL_CERT_FILE.
    ca_from_environment = False
    timeouts: tuple[type[BaseException], ...] = (TimeoutError,)

    def __init__(self, options: Options) -> None:
        self.options = options

    async def start(self) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        """One call, its answer read up to the limit; library errors are left to ``request``."""
        raise NotImplementedError

    def effective_timeout(self, seconds: float) -> float:
        return float(math.ceil(seconds)) if self.whole_seconds else seconds

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> PlatformResponse:
        seconds = self.effective_timeout(timeout or self.options.timeout)
        try:
            return await self.exchange(method, url, hub_headers(token, body), body, seconds)
        except HubError:
            raise
        except self.timeouts as e:
            raise ReceiverTimeoutError(f"no answer within {seconds:g} s") from e
        except Exception as e:  # every failure of the library: what the hub calls 4003
            refused = _by_guard(e)
            if refused is not None:
                raise RefusedUrlError(str(refused)) from e
            raise ReceiverUnreachableError(f"{type(e).__name__}: {e}") from e


class HubClient(Client):
    """``hub.forward.PlatformClient`` as it is in this checkout."""

    name = "hub"
    guard_hook = "yes: PlatformClient's URL guard (allow_private_urls=False)"
    guard_supported = True
    ca_from_environment = True  # PlatformClient takes no CA: the system's (SSL_CERT_FILE)

    async def start(self) -> None:
        self.client = PlatformClient(
            timeout=self.options.timeout,
            max_response_size=self.options.max_response_size,
            allow_private_urls=not self.options.guard,
        )
        await self.client.start()

    async def close(self) -> None:
        await self.client.close()

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> PlatformResponse:
        return await self.client.request(
            method, url, token=token, base64_encoded=True, body=body, timeout=timeout
        )


def _guarded_socket(address_info: tuple[Any, ...]) -> socket.socket:
    """aiohttp's socket factory: called with the resolved address of each new connection."""
    family, kind, proto, _, sockaddr = address_info
    guarded_address(sockaddr[0])
    return socket.socket(family=family, type=kind, proto=proto)


class AiohttpClient(Client):
    """aiohttp with its defaults (a ClientSession()), read as the hub reads."""

    name = "aiohttp"
    package = "aiohttp"
    guard_hook = "yes: TCPConnector(socket_factory=...) sees each resolved address; resolver="
    guard_supported = True

    def connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(
            ssl=ssl_context(self.options) or True,
            socket_factory=_guarded_socket if self.options.guard else None,
        )

    async def start(self) -> None:
        self.session = aiohttp.ClientSession(connector=self.connector())

    async def close(self) -> None:
        await self.session.close()

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        async with self.session.request(
            method,
            url,
            data=body,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=seconds),
            allow_redirects=False,
        ) as response:
            return PlatformResponse(
                status=response.status,
                headers=dict(response.headers),
                body=await self.read(response),
            )

    async def read(self, response: aiohttp.ClientResponse) -> bytes:
        limit = self.options.max_response_size
        if response.content_length is not None and response.content_length > limit:
            raise too_large(limit)
        body = Limited(limit)
        async for chunk in response.content.iter_chunked(CHUNK):
            body.add(chunk)
        return body.body()


class AiohttpTunedClient(AiohttpClient):
    """aiohttp with what the hub does not need switched off, and the answer read in one go
    when its Content-Length is within the limit."""

    name = "aiohttp-tuned"

    def connector(self) -> aiohttp.TCPConnector:
        return aiohttp.TCPConnector(
            limit=0,
            ttl_dns_cache=300,
            ssl=ssl_context(self.options) or True,
            socket_factory=_guarded_socket if self.options.guard else None,
        )

    async def start(self) -> None:
        self._timeouts: dict[float, aiohttp.ClientTimeout] = {}
        self.session = aiohttp.ClientSession(
            connector=self.connector(),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
            raise_for_status=False,
            trust_env=False,
        )

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        limit = self._timeouts.get(seconds)
        if limit is None:
            limit = self._timeouts[seconds] = aiohttp.ClientTimeout(total=seconds)
        async with self.session.request(
            method, url, data=body, headers=headers, timeout=limit, allow_redirects=False
        ) as response:
            size = self.options.max_response_size
            if response.content_length is not None:
                if response.content_length > size:
                    raise too_large(size)
                content = await response.read()
            else:
                content = await self.read(response)
            return PlatformResponse(status=response.status, headers=response.headers, body=content)


class PyreqwestClient(Client):
    """pyreqwest (Rust reqwest on tokio): one Client, answers streamed (build_streamed)."""

    name = "pyreqwest"
    package = "pyreqwest"
    guard_hook = (
        "no: ClientBuilder.resolve(domain, ip, port) is a static map set at build time; no "
        "resolver or connector hook (pyreqwest/client/__init__.pyi)"
    )

    async def start(self) -> None:
        module: Any = importlib.import_module("pyreqwest.client")
        errors: Any = importlib.import_module("pyreqwest.exceptions")
        self.timeouts = (TimeoutError, errors.RequestTimeoutError)
        builder = (
            module.ClientBuilder()
            .no_proxy()
            .follow_redirects(False)
            .referer(False)
            .gzip(False)
            .brotli(False)
            .zstd(False)
            .deflate(False)
            .timeout(timedelta(seconds=self.options.timeout))
        )
        if self.options.ca_file is not None:
            builder = builder.add_root_certificate_pem(self.options.ca_file.read_bytes())
        self.client: Any = builder.build()
        self._timeouts: dict[float, timedelta] = {}

    async def close(self) -> None:
        await self.client.close()

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        limit = self._timeouts.get(seconds)
        if limit is None:
            limit = self._timeouts[seconds] = timedelta(seconds=seconds)
        builder = self.client.request(method, url).headers(headers).timeout(limit)
        if body is not None:
            builder = builder.body_bytes(body)
        size = self.options.max_response_size
        async with builder.build_streamed() as response:
            answer_headers = dict(response.headers.items())
            if declared_length(answer_headers, size) is not None:
                content = (await response.bytes()).to_bytes()
            else:
                reader = response.body_reader
                read = Limited(size)
                while (chunk := await reader.read_chunk()) is not None:
                    read.add(chunk.to_bytes())
                content = read.body()
            return PlatformResponse(status=response.status, headers=answer_headers, body=content)


class RnetClient(Client):
    """rnet (Rust, a reqwest fork on tokio): one Client, answers streamed (Response.stream)."""

    name = "rnet"
    package = "rnet"
    guard_hook = (
        "no: no resolver or connector hook; Response.remote_addr tells the address only "
        "after the request was sent (rnet/__init__.pyi)"
    )
    whole_seconds = True  # Client(timeout=...) and the request's timeout are int seconds

    async def start(self) -> None:
        self.rnet: Any = importlib.import_module("rnet")
        errors: Any = importlib.import_module("rnet.exceptions")
        self.timeouts = (TimeoutError, errors.TimeoutError)
        verify: Path | bool = self.options.ca_file or True
        self.client: Any = self.rnet.Client(
            allow_redirects=False,
            referer=False,
            cookie_store=False,
            no_proxy=True,
            gzip=False,
            brotli=False,
            deflate=False,
            zstd=False,
            timeout=math.ceil(self.options.timeout),
            verify=verify,
        )
        self.methods = {m: getattr(self.rnet.Method, m) for m in ("GET", "PUT", "POST")}

    async def close(self) -> None:
        return None  # rnet's Client has no close(): its pool goes with it

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        extra: dict[str, Any] = {"headers": headers, "timeout": math.ceil(seconds)}
        if body is not None:
            extra["body"] = body
        response = await self.client.request(self.methods[method], url, **extra)
        try:
            answer_headers = {_text(name): _text(value) for name, value in response.headers.items()}
            size = self.options.max_response_size
            if declared_length(answer_headers, size) is not None:
                content = await response.bytes()
            else:
                read = Limited(size)
                async with response.stream() as stream:
                    async for chunk in stream:
                        read.add(chunk)
                content = read.body()
            return PlatformResponse(status=response.status, headers=answer_headers, body=content)
        finally:
            await response.close()


def _text(value: str | bytes) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else value


class _GuardedResolver:
    """aiosonic's resolver interface (``resolve``, ``close``), checking each address."""

    def __init__(self, resolver: Any) -> None:
        self.resolver = resolver

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> Any:
        found = await self.resolver.resolve(host, port, family)
        for address in found:
            guarded_address(address["host"])
        return found

    async def close(self) -> None:
        await self.resolver.close()


class AiosonicClient(Client):
    """aiosonic (pure Python, asyncio streams): one HTTPClient, answers streamed."""

    name = "aiosonic"
    package = "aiosonic"
    guard_hook = "yes: TCPConnector(resolver=...) returns the addresses it connects to"
    guard_supported = True

    async def start(self) -> None:
        aiosonic: Any = importlib.import_module("aiosonic")
        pools: Any = importlib.import_module("aiosonic.pools")
        resolvers: Any = importlib.import_module("aiosonic.resolver")
        timeouts: Any = importlib.import_module("aiosonic.timeout")
        errors: Any = importlib.import_module("aiosonic.exceptions")
        self.timeouts = (TimeoutError, errors.TimeoutException)
        resolver = resolvers.DefaultResolver()
        # The default pool holds 30 connections and recycles one after 1,000 calls: as many
        # as the hub may need (like aiohttp's limit=0), and kept.
        pool = pools.PoolConfig(size=1024, max_conn_requests=None)
        self.client: Any = aiosonic.HTTPClient(
            connector=aiosonic.TCPConnector(
                pool_configs={":default": pool},
                timeouts=timeouts.Timeouts(request_timeout=None, sock_read=None),
                resolver=_GuardedResolver(resolver) if self.options.guard else resolver,
            ),
            follow=False,
            handle_cookies=False,
            trust_env=False,
        )
        self.ssl = ssl_context(self.options)

    async def close(self) -> None:
        await self.client.aclose()

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        size = self.options.max_response_size
        # aiosonic speaks TLS over any URL it is given a context for, http:// ones too.
        tls = self.ssl if url.startswith("https:") else None
        # aiosonic's request_timeout ends when the headers are in: the body's read is bounded
        # here, with the rest of the call.
        async with (
            asyncio.timeout(seconds),
            self.client.stream(method, url, headers=headers, data=body, ssl=tls) as response,
        ):
            answer_headers = dict(response.headers)
            if declared_length(answer_headers, size) is not None:
                content = await response.content()
            else:
                read = Limited(size)
                async for chunk in response.read_chunks():
                    read.add(chunk)
                content = read.body()
            return PlatformResponse(
                status=response.status_code, headers=answer_headers, body=content
            )


class HttpxClient(Client):
    """httpx (pure Python, httpcore), for reference: one AsyncClient, answers streamed."""

    name = "httpx"
    package = "httpx"
    guard_hook = (
        "possible: httpcore's AsyncConnectionPool(network_backend=...) connects by name; "
        "httpx's AsyncHTTPTransport does not expose it"
    )

    async def start(self) -> None:
        self.httpx: Any = importlib.import_module("httpx")
        self.timeouts = (TimeoutError, self.httpx.TimeoutException)
        self.client: Any = self.httpx.AsyncClient(
            limits=self.httpx.Limits(max_connections=None, max_keepalive_connections=1024),
            follow_redirects=False,
            trust_env=False,
            verify=ssl_context(self.options) or True,
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def exchange(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, seconds: float
    ) -> PlatformResponse:
        size = self.options.max_response_size
        # httpx's timeouts bound each phase (connect, each read...), not the call: the total
        # is bounded here.
        async with (
            asyncio.timeout(seconds),
            self.client.stream(method, url, headers=headers, content=body) as response,
        ):
            answer_headers = dict(response.headers)
            if declared_length(answer_headers, size) is not None:
                content = await response.aread()
            else:
                read = Limited(size)
                async for chunk in response.aiter_raw():
                    read.add(chunk)
                content = read.body()
            return PlatformResponse(
                status=response.status_code, headers=answer_headers, body=content
            )


CLIENTS: dict[str, type[Client]] = {
    c.name: c
    for c in (
        HubClient,
        AiohttpClient,
        AiohttpTunedClient,
        PyreqwestClient,
        RnetClient,
        AiosonicClient,
        HttpxClient,
    )
}


def missing(name: str) -> str | None:
    """Why ``name`` cannot run here, or None."""
    package = CLIENTS[name].package
    if package is None:
        return None
    try:
        importlib.import_module(package)
    except ImportError:
        return f"{package} is not installed (pip install {package})"
    return None


def versions() -> dict[str, str]:
    found = {"python": platform_module.python_version()}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def run_loop(main: Awaitable[Any]) -> Any:
    """On uvloop when it is installed: uvicorn's loop="auto" runs the hub on it then."""
    try:
        uvloop: Any = importlib.import_module("uvloop")
    except ImportError:
        return asyncio.run(main)  # type: ignore[arg-type]
    return uvloop.run(main)


def event_loop_name() -> str:
    try:
        importlib.import_module("uvloop")
    except ImportError:
        return "asyncio"
    return "uvloop"


# --- the benchmark: one client's process -------------------------------------------------------


def answer_ok(response: PlatformResponse) -> bool:
    body = response.body
    return (
        response.status == 200
        and len(body) == ENVELOPE_SIZE
        and body.startswith(ENVELOPE_HEAD)
        and body.endswith(b'"}')
    )


def percentile(ordered: list[float], q: float) -> float:
    """Nearest rank, of sorted values."""
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def milliseconds(ordered: list[float], q: float) -> float | None:
    return round(1000 * percentile(ordered, q), 3) if ordered else None


def process_cpu(pid: int) -> float:
    """CPU seconds of process ``pid`` so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return 0.0
    fields = data[data.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy so far."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / CLOCK_TICKS


@dataclass
class Drive:
    completed: int = 0  # answered, good or bad
    errors: int = 0
    first_error: str = ""
    bad: int = 0
    first_bad: str = ""
    seconds: float = 0.0


async def drive(
    call: Callable[[], Awaitable[PlatformResponse]],
    concurrency: int,
    count: int,
    seconds: float,
    latencies: list[float] | None,
) -> Drive:
    """``concurrency`` calls in flight until ``count`` were sent or ``seconds`` passed; the
    first error ends it."""
    result = Drive()
    issued = 0
    deadline = time.perf_counter() + seconds
    clock = time.perf_counter

    async def worker() -> None:
        nonlocal issued, deadline
        while issued < count and clock() < deadline:
            issued += 1
            started = clock()
            try:
                response = await call()
            except Exception as e:
                result.errors += 1
                if not result.first_error:
                    result.first_error = f"{type(e).__name__}: {e}"
                deadline = 0.0  # any error fails the run: stop it
                continue
            if latencies is not None:
                latencies.append(clock() - started)
            result.completed += 1
            if not answer_ok(response):
                result.bad += 1
                if not result.first_bad:
                    result.first_bad = f"HTTP {response.status}: {response.body[:200]!r}"

    started = clock()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.seconds = clock() - started
    return result


async def bench_client(args: argparse.Namespace) -> dict[str, Any]:
    client = CLIENTS[args.child](Options())
    await client.start()
    base = f"http://127.0.0.1:{args.port}"
    # Compact, as the receiver's template (start_receiver) and the load generators send it.
    location = json.dumps(json.loads(LOCATION.read_text()), separators=(",", ":")).encode()
    calls = {
        "put": ("PUT", base + PUT_PATH, location),
        "get": ("GET", base + GET_PATH, None),
    }
    runs = []
    sent: Counter[str] = Counter()
    failed = False
    try:
        for case in args.cases:
            method, url, body = calls[case]

            async def call(method: str = method, url: str = url, body: bytes | None = body) -> Any:
                return await client.request(method, url, token=TOKEN, body=body)

            for concurrency in args.concurrencies:
                if failed:
                    break
                warm = await drive(call, concurrency, args.requests, args.warmup, None)
                sent[method] += warm.completed
                latencies: list[float] = []
                cpu, receiver = time.process_time(), process_cpu(args.receiver_pid)
                machine = machine_cpu()
                measured = await drive(call, concurrency, args.requests, args.seconds, latencies)
                cpu = time.process_time() - cpu
                receiver = process_cpu(args.receiver_pid) - receiver
                machine = machine_cpu() - machine
                sent[method] += measured.completed
                failed = bool(warm.errors or warm.bad or measured.errors or measured.bad)
                latencies.sort()
                wall = measured.seconds
                runs.append(
                    {
                        "client": client.name,
                        "case": case,
                        "concurrency": concurrency,
                        "requests": measured.completed,
                        "seconds": round(wall, 3),
                        "rps": round(measured.completed / wall, 1) if wall else 0.0,
                        "p50_ms": milliseconds(latencies, 0.5),
                        "p99_ms": milliseconds(latencies, 0.99),
                        "cpu_us_per_request": round(1e6 * cpu / measured.completed, 1)
                        if measured.completed
                        else None,
                        "cpu_percent": {
                            "client": round(100 * cpu / wall, 1),
                            "receiver": round(100 * receiver / wall, 1),
                            "other": round(100 * max(0.0, machine - cpu - receiver) / wall, 1),
                        },
                        "errors": warm.errors + measured.errors,
                        "first_error": warm.first_error or measured.first_error,
                        "bad": warm.bad + measured.bad,
                        "first_bad": warm.first_bad or measured.first_bad,
                    }
                )
    finally:
        await client.close()
    return {"runs": runs, "sent": dict(sent)}


# --- the benchmark: the parent ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_get(port: int, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
    """A plain HTTP/1.1 GET to 127.0.0.1 (no proxy, no library), for the servers' controls."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def wait_listening(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError as e:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server on port {port} did not start: {log.read_text()}") from e
            time.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_receiver(stack: ExitStack, workdir: Path) -> tuple[int, subprocess.Popen[bytes]]:
    compact = json.dumps(json.loads(LOCATION.read_text()), separators=(",", ":"))
    config = forward_config({PARTY: TOKEN}, compact.encode())
    # Without answers the receiver answers a GET with the bare envelope, as it does a PUT.
    config.pop("answers")
    (workdir / "receiver.json").write_text(json.dumps(config))
    port = free_port()
    log = workdir / "receiver.log"
    command = [sys.executable, str(RECEIVER), "--port", str(port)]
    command += ["--config", str(workdir / "receiver.json")]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    stack.callback(stop, process)
    wait_listening(port, process, log)
    return port, process


def receiver_stats(port: int) -> Counter[str]:
    status, body = http_get(port, "/_stats")
    if status != 200:
        raise RuntimeError(f"receiver /_stats: HTTP {status}")
    return Counter(json.loads(body))


def run_child(command: list[str], timeout: float, env: dict[str, str] | None = None) -> Any:
    """A child process (this script) and the JSON it printed last on its standard output."""
    run = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env
    )
    if run.returncode != 0:
        raise RuntimeError(f"{command[3]} exited with {run.returncode}: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def benchmark(args: argparse.Namespace, clients: list[str], problems: list[str]) -> list[Any]:
    runs: list[dict[str, Any]] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="clients-")))
        port, receiver = start_receiver(stack, workdir)
        per_run = (args.warmup + args.seconds + 10) * len(args.cases) * len(args.concurrencies)
        for repeat in range(1, args.repeat + 1):
            for name in clients:
                before = receiver_stats(port)
                command = [sys.executable, __file__, "--_child", name, "--port", str(port)]
                command += ["--receiver-pid", str(receiver.pid), "--seconds", str(args.seconds)]
                command += ["--requests", str(args.requests), "--warmup", str(args.warmup)]
                command += ["--cases", ",".join(args.cases)]
                command += ["--concurrency", str(args.concurrency)]
                command += ["--latency-concurrency", str(args.latency_concurrency)]
                try:
                    found = run_child(command, per_run + 60)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                    problems.append(f"{name}: {e}")
                    continue
                got = receiver_stats(port) - before
                for method, count in found["sent"].items():
                    arrived = got[f"{PARTY} locations {method}"]
                    if arrived != count:
                        problems.append(
                            f"{name}: {count} {method} answered, {arrived} reached the receiver"
                        )
                for counter in ("bad_token", "bad_body", "not_found"):
                    if got[counter]:
                        problems.append(f"{name}: the receiver counted {got[counter]} {counter}")
                for run in found["runs"]:
                    run["repeat"] = repeat
                    if run["errors"] or run["bad"]:
                        problems.append(
                            f"{name} {run['case']} x{run['concurrency']}: {run['errors']} errors"
                            f" ({run['first_error']}), {run['bad']} bad ({run['first_bad']})"
                        )
                    runs.append(run)
                    print_run(run)
    return runs


def print_run(run: dict[str, Any]) -> None:
    cpu = run["cpu_percent"]
    print(
        f"  [{run['repeat']}] {run['client']:<14} {run['case']:<4} x{run['concurrency']:<3}"
        f" {run['rps']:>9.0f} req/s  p50 {run['p50_ms']} ms  p99 {run['p99_ms']} ms"
        f"  {run['cpu_us_per_request']} us/call  cpu% client {cpu['client']}"
        f" receiver {cpu['receiver']} other {cpu['other']}",
        flush=True,
    )


def medians(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for run in runs:
        groups.setdefault((run["client"], run["case"], run["concurrency"]), []).append(run)
    rows = []
    for (client, case, concurrency), found in groups.items():

        def median(key: str, found: list[dict[str, Any]] = found) -> float:
            values = [r[key] for r in found if r[key] is not None]
            return round(statistics.median(values), 3) if values else math.nan

        rows.append(
            {
                "client": client,
                "case": case,
                "concurrency": concurrency,
                "runs": len(found),
                "rps_each": [r["rps"] for r in found],
                "rps": round(median("rps")),
                "p50_ms": median("p50_ms"),
                "p99_ms": median("p99_ms"),
                "cpu_us_per_request": round(median("cpu_us_per_request"), 1),
                "client_cpu_percent": statistics.median(r["cpu_percent"]["client"] for r in found),
                "other_cpu_percent": statistics.median(r["cpu_percent"]["other"] for r in found),
            }
        )
    return rows


def print_medians(rows: list[dict[str, Any]]) -> None:
    print(
        "\n| client | call | conc | req/s (each run) | req/s | p50 ms | p99 ms | CPU µs/call"
        " | client cpu% | other cpu% |"
    )
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in sorted(rows, key=lambda r: (-r["concurrency"], r["case"] != "put")):
        each = ", ".join(f"{v:.0f}" for v in row["rps_each"])
        print(
            f"| {row['client']} | {row['case'].upper()} | {row['concurrency']} | {each} |"
            f" {row['rps']} | {row['p50_ms']:.3f} | {row['p99_ms']:.3f} |"
            f" {row['cpu_us_per_request']} | {row['client_cpu_percent']} |"
            f" {row['other_cpu_percent']} |"
        )


# --- robustness: the servers ---------------------------------------------------------------------

IDLE = 0.3  # the robustness server closes a kept-alive connection idle this long
SLOW = 2.0  # /slow answers after this long
BIG = 20 * 1024 * 1024
LIMIT = 1024 * 1024
OK_BODY = b'{"data":null,"status_code":1000,"status_message":"Success","timestamp":"x"}'
SLOW_BODY = b'{"data":"slow","status_code":1000,"status_message":"Success","timestamp":"x"}'


class RobustServer:
    """HTTP/1.1 by hand over asyncio streams: each path one behaviour (see ``answer``)."""

    def __init__(self) -> None:
        self.connections: Counter[str] = Counter()  # connections that carried a call, per port
        self.big_sent = 0  # bytes of the last /big* answer written before the client left

    async def handle(
        self, listener: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        counted = False
        served = 0
        try:
            while True:
                try:
                    head = await asyncio.wait_for(
                        reader.readuntil(b"\r\n\r\n"), IDLE if served else 10.0
                    )
                    request_line, _, fields = head.partition(b"\r\n")
                    match = re.search(rb"(?im)^content-length:\s*(\d+)", fields)
                    if match:
                        await reader.readexactly(int(match.group(1)))
                except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                path = request_line.split(b" ")[1].split(b"?")[0]
                if path != b"/_stats" and not counted:
                    self.connections[listener] += 1
                    counted = True
                served += 1
                if not await self.answer(path, reader, writer):
                    return
        except (ConnectionError, ssl.SSLError):
            return
        finally:
            writer.close()

    async def answer(
        self, path: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answer one call; False: the connection ends here."""

        def whole(body: bytes, close: bool = False) -> None:
            extra = b"Connection: close\r\n" if close else b""
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                % len(body)
                + extra
                + b"\r\n"
                + body
            )

        if path == b"/_stats":
            stats = {"connections": dict(self.connections), "big_sent": self.big_sent}
            whole(json.dumps(stats).encode(), close=True)
            await writer.drain()
            return False
        if path == b"/ok":
            whole(OK_BODY)
        elif path == b"/never":
            with suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), 30)  # until the client gives up
            return False
        elif path == b"/slow":
            await asyncio.sleep(SLOW)
            whole(SLOW_BODY)
        elif path == b"/truncated":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + OK_BODY[:10])
            await writer.drain()
            return False
        elif path == b"/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in (OK_BODY[:20], OK_BODY[20:50], OK_BODY[50:]):
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
                await asyncio.sleep(0.01)
            writer.write(b"0\r\n\r\n")
        elif path in (b"/big", b"/big-chunked"):
            await self.big(writer, chunked=path == b"/big-chunked")
            return False
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        return True

    async def big(self, writer: asyncio.StreamWriter, *, chunked: bool) -> None:
        self.big_sent = 0
        if chunked:
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % BIG)
        piece = b"x" * CHUNK
        framed = b"%x\r\n%s\r\n" % (CHUNK, piece) if chunked else piece
        try:
            while self.big_sent < BIG:
                writer.write(framed)
                await asyncio.wait_for(writer.drain(), 10)
                self.big_sent += CHUNK
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, TimeoutError):
            return


def openssl(*arguments: str, cwd: Path) -> None:
    subprocess.run(["openssl", *arguments], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_certificates(directory: Path) -> None:
    """Two CAs (good, other), each with a certificate for 127.0.0.1 and localhost."""
    extensions = directory / "server.ext"
    extensions.write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for name in ("good", "other"):
        openssl(
            "req", "-x509", *ec, "-keyout", f"{name}-ca.key", "-out", f"{name}-ca.pem",
            "-days", "2", "-subj", f"/CN=clients benchmark {name} CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
            cwd=directory,
        )  # fmt: skip
        openssl(
            "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
            "-subj", "/CN=127.0.0.1", cwd=directory,
        )  # fmt: skip
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", f"{name}-ca.pem",
            "-CAkey", f"{name}-ca.key", "-CAcreateserial", "-out", f"{name}.pem",
            "-days", "2", "-extfile", "server.ext", cwd=directory,
        )  # fmt: skip


async def serve_robust(args: argparse.Namespace) -> None:
    server = RobustServer()
    listeners = [
        await asyncio.start_server(partial(server.handle, "plain"), "127.0.0.1", args.port)
    ]
    if args.certs:
        for name, port in (("good", args.tls_port), ("other", args.tls_other_port)):
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certs = Path(args.certs)
            context.load_cert_chain(certs / f"{name}.pem", certs / f"{name}.key")
            listeners.append(
                await asyncio.start_server(
                    partial(server.handle, name), "127.0.0.1", port, ssl=context
                )
            )
    print("ready", flush=True)
    # Bounded: the parent stops it, or it ends by itself.
    await asyncio.sleep(args.lifetime)
    for listener in listeners:
        listener.close()


# --- robustness: one client's process ------------------------------------------------------------


@dataclass
class Outcome:
    response: PlatformResponse | None
    error: BaseException | None
    seconds: float
    hung: bool = False

    def __str__(self) -> str:
        if self.hung:
            return f"no result after {self.seconds:.1f} s"
        if self.error is not None:
            return f"{type(self.error).__name__} after {self.seconds:.2f} s"
        assert self.response is not None
        return f"HTTP {self.response.status}, {len(self.response.body)} bytes"

    def answered(self, body: bytes) -> bool:
        return self.response is not None and self.response.body == body


async def attempt(
    client: Client,
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    timeout: float = 5.0,
    bound: float = 15.0,
) -> Outcome:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(bound):
            response = await client.request(method, url, token=TOKEN, body=body, timeout=timeout)
    except TimeoutError as e:
        if isinstance(e, HubError):
            return Outcome(None, e, time.perf_counter() - started)
        return Outcome(None, None, time.perf_counter() - started, hung=True)
    except Exception as e:
        return Outcome(None, e, time.perf_counter() - started)
    return Outcome(response, None, time.perf_counter() - started)


def rss_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            found = re.search(rf"{field}:\s+(\d+)", f.read())
    except OSError:
        return None
    return int(found.group(1)) if found else None


def reset_peak_rss() -> bool:
    """Linux resets VmHWM to the current RSS on "5" (proc(5), /proc/pid/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


@dataclass
class Check:
    name: str
    ok: bool | None  # None: not applicable
    detail: str


class Robustness:
    """The checks; each gets a client of its own, so that one check's failure does not leave
    the next with a broken pool."""

    def __init__(self, make: Callable[[Options], Client], options: Options, args: Any) -> None:
        self.make = make
        self.options = options
        self.args = args
        self.base = f"http://127.0.0.1:{args.port}"

    def url(self, path: str) -> str:
        return self.base + path

    async def followed_by_ok(self, client: Client) -> Outcome:
        return await attempt(client, "GET", self.url("/ok"))

    async def timeout(self, client: Client) -> Check:
        seconds = client.effective_timeout(0.5)
        found = await attempt(client, "GET", self.url("/never"), timeout=seconds)
        ok = isinstance(found.error, ReceiverTimeoutError) and found.seconds < seconds + 1
        return Check("timeout", ok, f"{found} (timeout {seconds:g} s)")

    async def refused(self, client: Client) -> Check:
        found = await attempt(client, "GET", f"http://127.0.0.1:{free_port()}/ok")
        ok = isinstance(found.error, ReceiverUnreachableError) and found.seconds < 2
        return Check("refused", ok, str(found))

    async def idle_close(self, client: Client) -> Check:
        first = await self.followed_by_ok(client)
        await asyncio.sleep(IDLE + 0.5)
        second = await attempt(client, "POST", self.url("/ok"), body=b"{}")
        ok = first.answered(OK_BODY) and second.answered(OK_BODY)
        return Check("idle-close", ok, f"first {first}; POST after the close: {second}")

    async def after_timeout(self, client: Client) -> Check:
        warm = await self.followed_by_ok(client)  # the connection the slow call may reuse
        seconds = client.effective_timeout(0.3)
        slow = await attempt(client, "GET", self.url("/slow"), timeout=seconds)
        right_after = await self.followed_by_ok(client)
        await asyncio.sleep(SLOW + 0.3)
        later = await self.followed_by_ok(client)
        ok = (
            warm.answered(OK_BODY)
            and isinstance(slow.error, ReceiverTimeoutError)
            and right_after.answered(OK_BODY)
            and later.answered(OK_BODY)
        )
        detail = f"slow: {slow}; right after: {right_after}; after its late answer: {later}"
        if right_after.answered(SLOW_BODY) or later.answered(SLOW_BODY):
            detail += " (got the timed-out call's answer)"
        return Check("after-timeout", ok, detail)

    async def truncated(self, client: Client) -> Check:
        cut = await attempt(client, "GET", self.url("/truncated"))
        after = await self.followed_by_ok(client)
        ok = isinstance(cut.error, ReceiverUnreachableError) and after.answered(OK_BODY)
        return Check("truncated", ok, f"{cut}; then {after}")

    async def chunked(self, client: Client) -> Check:
        found = await attempt(client, "GET", self.url("/chunked"))
        return Check("chunked", found.answered(OK_BODY), str(found))

    async def large(self, client: Client, name: str, path: str) -> Check:
        baseline = rss_kib("VmRSS") if reset_peak_rss() else None
        found = await attempt(client, "GET", self.url(path), timeout=10)
        peak = rss_kib("VmHWM")
        await asyncio.sleep(0.2)  # the server notices the closed connection
        sent = stats(self.args.port)["big_sent"]
        after = await self.followed_by_ok(client)
        grown = None if baseline is None or peak is None else (peak - baseline) / 1024
        ok = (
            isinstance(found.error, AnswerTooLargeError)
            and after.answered(OK_BODY)
            and (grown is None or grown < 10)
        )
        memory = "peak RSS not measurable" if grown is None else f"peak RSS +{grown:.1f} MB"
        detail = f"{found}; {memory}; server wrote {sent / 2**20:.1f} of 20 MB; then {after}"
        return Check(name, ok, detail)

    async def large_length(self, client: Client) -> Check:
        return await self.large(client, "large-length", "/big")

    async def large_chunked(self, client: Client) -> Check:
        return await self.large(client, "large-chunked", "/big-chunked")

    async def tls(self, client: Client) -> Check:
        if not self.args.certs:
            return Check("tls", None, "openssl not found: no certificates")
        good = await attempt(client, "GET", f"https://127.0.0.1:{self.args.tls_port}/ok")
        other = await attempt(client, "GET", f"https://127.0.0.1:{self.args.tls_other_port}/ok")
        ok = good.answered(OK_BODY) and isinstance(other.error, ReceiverUnreachableError)
        how = "CA from SSL_CERT_FILE" if client.ca_from_environment else "CA given"
        return Check("tls", ok, f"{how}: {good}; another CA's certificate: {other}")

    async def guard(self) -> Check:
        sample = self.make(self.options)
        if not sample.guard_supported:
            return Check("guard", None, sample.guard_hook)
        guarded = self.make(Options(max_response_size=LIMIT, guard=True))
        await guarded.start()
        try:
            before = stats(self.args.port)["connections"].get("plain", 0)
            found = await attempt(guarded, "GET", self.url("/ok"))
            after = stats(self.args.port)["connections"].get("plain", 0)
        finally:
            await guarded.close()
        ok = isinstance(found.error, RefusedUrlError) and after == before
        return Check("guard", ok, f"{sample.guard_hook}: {found}, {after - before} connected")

    async def run(self) -> list[Check]:
        checks = []
        for check in (
            self.timeout,
            self.refused,
            self.idle_close,
            self.after_timeout,
            self.truncated,
            self.chunked,
            self.large_length,
            self.large_chunked,
            self.tls,
        ):
            client = self.make(self.options)
            await client.start()
            try:
                checks.append(await check(client))
            finally:
                await client.close()
        checks.append(await self.guard())
        return checks


def stats(port: int) -> dict[str, Any]:
    _, body = http_get(port, "/_stats")
    found: dict[str, Any] = json.loads(body)
    return found


async def robust_client(args: argparse.Namespace) -> list[dict[str, Any]]:
    make = CLIENTS[args.child]
    ca = Path(args.certs) / "good-ca.pem" if args.certs else None
    options = Options(max_response_size=LIMIT, ca_file=None if make.ca_from_environment else ca)
    return [asdict(c) for c in await Robustness(make, options, args).run()]


SCENARIOS = (
    "timeout",
    "refused",
    "idle-close",
    "after-timeout",
    "truncated",
    "chunked",
    "large-length",
    "large-chunked",
    "tls",
    "guard",
)


def robustness(clients: list[str], problems: list[str]) -> dict[str, list[dict[str, Any]]]:
    matrix: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="robust-")))
        certs = ""
        if shutil.which("openssl"):
            make_certificates(workdir)
            certs = str(workdir)
        ports = [free_port(), free_port(), free_port()]
        command = [sys.executable, __file__, "--_serve-robust", "--port", str(ports[0])]
        command += ["--tls-port", str(ports[1]), "--tls-other-port", str(ports[2])]
        command += ["--certs", certs, "--lifetime", str(120 + 60 * len(clients))]
        log = workdir / "robust.log"
        with open(log, "w") as out:
            server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        stack.callback(stop, server)
        wait_listening(ports[0], server, log)
        for name in clients:
            child = [sys.executable, __file__, "--_robust", name, "--port", str(ports[0])]
            child += ["--tls-port", str(ports[1]), "--tls-other-port", str(ports[2])]
            child += ["--certs", certs]
            env = dict(os.environ)
            if CLIENTS[name].ca_from_environment and certs:
                env["SSL_CERT_FILE"] = str(workdir / "good-ca.pem")
            try:
                matrix[name] = run_child(child, 120, env)
            except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
                problems.append(f"{name}: the robustness run failed: {e}")
                continue
            for check in matrix[name]:
                mark = {True: "pass", False: "FAIL", None: "n/a"}[check["ok"]]
                print(f"  {name:<14} {check['name']:<14} {mark:<5} {check['detail']}", flush=True)
    return matrix


def print_matrix(matrix: dict[str, list[dict[str, Any]]]) -> None:
    print("\n| client | " + " | ".join(SCENARIOS) + " |")
    print("| --- |" + " :---: |" * len(SCENARIOS))
    for name, checks in matrix.items():
        marks = {c["name"]: {True: "yes", False: "**no**", None: "no"}[c["ok"]] for c in checks}
        print(f"| {name} | " + " | ".join(marks.get(s, "?") for s in SCENARIOS) + " |")


# --- main ----------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    return {**lean.environment(), "event_loop": event_loop_name(), "versions": versions()}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", default=",".join(ALL_CLIENTS), help="comma-separated")
    parser.add_argument("--seconds", type=float, default=5.0, help="per measured run")
    parser.add_argument("--requests", type=int, default=200_000, help="at most, per run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds, unmeasured")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--latency-concurrency", type=int, default=1, help="0: none")
    parser.add_argument("--cases", default="put,get")
    parser.add_argument("--repeat", type=int, default=1, help="rounds over all clients")
    parser.add_argument("--robustness", action="store_true", help="the robustness matrix")
    parser.add_argument("--json", type=Path, help="write the results here")
    # The processes this script starts of itself.
    parser.add_argument("--_child", dest="child", help=argparse.SUPPRESS)
    parser.add_argument("--_robust", dest="robust", help=argparse.SUPPRESS)
    hidden = argparse.SUPPRESS
    parser.add_argument("--_serve-robust", dest="serve_robust", action="store_true", help=hidden)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--receiver-pid", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tls-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--tls-other-port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--certs", default="", help=argparse.SUPPRESS)
    parser.add_argument("--lifetime", type=float, default=600, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.cases = [c for c in args.cases.split(",") if c]
    if set(args.cases) - {"put", "get"}:
        parser.error("--cases: put, get")
    args.concurrencies = [c for c in (args.concurrency, args.latency_concurrency) if c > 0]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_robust:
        run_loop(serve_robust(args))
        return 0
    if args.robust:
        args.child = args.robust
        print(json.dumps(run_loop(robust_client(args))))
        return 0
    if args.child:
        print(json.dumps(run_loop(bench_client(args))))
        return 0

    wanted = [c for c in args.clients.split(",") if c]
    unknown = set(wanted) - set(CLIENTS)
    if unknown:
        raise SystemExit(f"unknown clients: {sorted(unknown)}; known: {', '.join(CLIENTS)}")
    clients = []
    skipped = {}
    for name in wanted:
        reason = missing(name)
        if reason is None:
            clients.append(name)
        else:
            skipped[name] = reason
            print(f"skipped {name}: {reason}", flush=True)
    found: dict[str, Any] = {"environment": environment(), "skipped": skipped}
    print(json.dumps(found["environment"]), flush=True)
    problems: list[str] = []
    if args.robustness:
        found["robustness"] = robustness(clients, problems)
        print_matrix(found["robustness"])
    else:
        found["settings"] = {
            key: getattr(args, key)
            for key in ("seconds", "requests", "warmup", "cases", "concurrencies", "repeat")
        }
        found["runs"] = benchmark(args, clients, problems)
        found["medians"] = medians(found["runs"])
        print_medians(found["medians"])
    found["problems"] = problems
    print(f"\nproblems: {len(problems)}")
    for problem in problems:
        print(f"  {problem}")
    if args.json is not None:
        args.json.write_text(json.dumps(found, indent=2))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
