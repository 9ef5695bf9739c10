"""The outbound client against real servers on 127.0.0.1: the URL guard on the address actually
connected (a resolver maps made-up names to 127.0.0.1, as DNS rebinding would), redirects,
answer sizes, time limits, and error messages that do not describe the network."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web

from hub.errors import (
    AnswerTooLargeError,
    HubError,
    ReceiverBrokenError,
    ReceiverTimeoutError,
    ReceiverUnreachableError,
    RefusedUrlError,
)
from hub.forward import PlatformClient
from tests.parties import free_port

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Server:
    """A real HTTP server on 127.0.0.1 that records the paths it was asked for."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.stopping = asyncio.Event()  # handlers that hang wait for this
        self.routes: dict[str, Handler] = {}
        self.port = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path)
        handler = self.routes.get(request.path)
        if handler is None:
            return web.json_response({"status_code": 1000, "timestamp": "2026-01-01T00:00:00Z"})
        return await handler(request)


@contextlib.asynccontextmanager
async def running(*, allow_private_urls: bool) -> AsyncIterator[tuple[Server, PlatformClient]]:
    """A server on 127.0.0.1 and a client whose every name resolves to it."""
    found = Server()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", found.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    found.port = free_port()
    await web.TCPSite(runner, "127.0.0.1", found.port).start()
    client = PlatformClient(
        timeout=2,
        max_response_size=1024 * 1024,
        allow_private_urls=allow_private_urls,
        resolve=rebinding,
    )
    await client.start()
    try:
        yield found, client
    finally:
        found.stopping.set()
        await client.close()
        await runner.cleanup()


async def rebinding(host: str, port: int) -> list[str]:
    """Every name resolves to loopback, as a hostile platform's DNS could make it."""
    return ["127.0.0.1"]


Scenario = Callable[[Server, PlatformClient], Awaitable[None]]


def guarded(scenario: Scenario) -> Callable[[], None]:
    """A test run against a client that applies the address rule."""
    return _test(scenario, allow_private_urls=False)


def unguarded(scenario: Scenario) -> Callable[[], None]:
    """A test run against a client with --allow-private-urls (to reach 127.0.0.1 at all)."""
    return _test(scenario, allow_private_urls=True)


def _test(scenario: Scenario, *, allow_private_urls: bool) -> Callable[[], None]:
    def test() -> None:
        asyncio.run(_run(scenario, allow_private_urls))

    test.__name__ = test.__qualname__ = scenario.__name__
    test.__doc__ = scenario.__doc__
    return test


async def _run(scenario: Callable[[Server, PlatformClient], Awaitable[None]], allow: bool) -> None:
    async with running(allow_private_urls=allow) as (server, client):
        await asyncio.wait_for(scenario(server, client), 30)


async def call(client: PlatformClient, url: str) -> int:
    response = await client.request("GET", url, token="t", base64_encoded=True)
    return response.status


@guarded
async def test_a_name_that_resolves_to_loopback_is_refused_on_connect(
    server: Server, client: PlatformClient
) -> None:
    with pytest.raises(RefusedUrlError) as refused:
        await call(client, f"http://platform.example.com:{server.port}/ocpi/versions")
    assert refused.value.reason == "its host is a loopback address"
    assert server.seen == []


@unguarded
async def test_the_same_name_connects_when_private_urls_are_allowed(
    server: Server, client: PlatformClient
) -> None:
    """The resolver is real: with the address rule lifted the request arrives."""
    assert await call(client, f"http://platform.example.com:{server.port}/ocpi/versions") == 200
    assert server.seen == ["/ocpi/versions"]


@guarded
async def test_a_loopback_literal_is_refused_before_connecting(
    server: Server, client: PlatformClient
) -> None:
    with pytest.raises(RefusedUrlError):
        await call(client, f"http://127.0.0.1:{server.port}/ocpi/versions")
    assert server.seen == []


@unguarded
async def test_redirects_are_the_answer_not_followed(
    server: Server, client: PlatformClient
) -> None:
    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.1:{server.port}/ocpi/2.2.1/credentials")

    server.routes["/ocpi/2.2.1/locations"] = redirect
    status = await call(client, f"http://127.0.0.1:{server.port}/ocpi/2.2.1/locations")
    assert status == 307
    assert server.seen == ["/ocpi/2.2.1/locations"]


@unguarded
async def test_an_answer_declared_over_the_limit_is_refused(
    server: Server, client: PlatformClient
) -> None:
    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Length": str(1024**3)})
        await response.prepare(request)
        await response.write(b"x" * 65536)
        return response

    server.routes["/huge"] = huge
    with pytest.raises(AnswerTooLargeError) as refused:
        await call(client, f"http://127.0.0.1:{server.port}/huge")
    assert isinstance(refused.value, ReceiverBrokenError)  # OCPI 4000


@unguarded
async def test_an_endless_chunked_answer_is_cut_at_the_limit(
    server: Server, client: PlatformClient
) -> None:
    sent = 0

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(10_000):  # 640 MiB at most; the client stops reading long before
            await response.write(b"x" * 65536)
            sent += 65536
        return response

    server.routes["/endless"] = endless
    with pytest.raises(AnswerTooLargeError):
        await call(client, f"http://127.0.0.1:{server.port}/endless")
    assert sent < 64 * 1024 * 1024


@unguarded
async def test_a_receiver_that_never_answers_is_a_timeout(
    server: Server, client: PlatformClient
) -> None:
    async def silent(request: web.Request) -> web.StreamResponse:
        await server.stopping.wait()
        return web.Response()

    server.routes["/silent"] = silent
    with pytest.raises(ReceiverTimeoutError) as timed_out:
        await call(client, f"http://127.0.0.1:{server.port}/silent")
    assert timed_out.value.message == "no answer within 2 s"


@unguarded
async def test_a_closed_port_is_said_in_general_terms(
    server: Server, client: PlatformClient
) -> None:
    with pytest.raises(ReceiverUnreachableError) as unreachable:
        await call(client, f"http://127.0.0.1:{free_port()}/ocpi/versions")
    assert unreachable.value.message == "could not connect"


@unguarded
async def test_an_answer_that_must_be_ocpi_and_is_not_says_so(
    server: Server, client: PlatformClient
) -> None:
    async def maintenance(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>down for maintenance</html>", status=503)

    server.routes["/ocpi/versions"] = maintenance
    with pytest.raises(HubError) as refused:
        await client.ocpi(
            "GET", f"http://127.0.0.1:{server.port}/ocpi/versions", token="t", base64_encoded=True
        )
    assert refused.value.message == "HTTP 503 without an OCPI envelope"
    # An envelope, whatever its status, is the platform's answer for the caller to judge.
    response, envelope = await client.ocpi(
        "GET", f"http://127.0.0.1:{server.port}/other", token="t", base64_encoded=True
    )
    assert (response.status, envelope.status_code) == (200, 1000)


def test_a_client_that_was_not_started_sends_nothing() -> None:
    client = PlatformClient(timeout=1, max_response_size=1024, allow_private_urls=True)
    sent = client.request("GET", f"http://127.0.0.1:{free_port()}/", token="t", base64_encoded=True)
    with pytest.raises(RuntimeError, match=r"start\(\) was not called"):
        asyncio.run(sent)
