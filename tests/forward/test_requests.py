"""What the outbound client sends, as a real server on loopback reads it: the head's fields,
large bodies byte for byte, request targets nothing can break out of, IPv6 loopback."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket

import pytest

from hub.errors import ReceiverUnreachableError, RefusedUrlError
from tests.forward.raw import OK, Peer, Request, answering, client, get, run, serving


async def seen(script_body: bytes | None = None, **call: object) -> Request:
    """The one request a call makes, as the server read it."""
    async with serving(answering) as server, client() as made:
        url = str(call.pop("url", server.url()))
        await made.request(
            str(call.pop("method", "PUT")),
            url,
            token="secret-token",
            base64_encoded=bool(call.pop("base64_encoded", True)),
            body=script_body,
            **call,  # type: ignore[arg-type]
        )
        return server.requests[0]


@run
async def test_the_head_carries_the_fields_of_an_ocpi_call_and_no_others() -> None:
    request = await seen(
        b'{"id": "LOC1"}',
        headers={"x-correlation-id": "corr-1", "OCPI-to-party-id": "EMS"},
    )
    names = [n.lower() for n, _ in request.fields]
    assert sorted(names) == sorted(
        [
            "host",
            "authorization",
            "x-request-id",
            "x-correlation-id",
            "ocpi-to-party-id",
            "content-type",
            "content-length",
            "accept-encoding",
        ]
    )
    assert request.field("Authorization") == ["Token c2VjcmV0LXRva2Vu"]
    assert request.field("X-Correlation-ID") == ["corr-1"]  # the caller's, once
    assert len(request.field("X-Request-ID")[0]) == 36
    assert request.field("Content-Type") == ["application/json"]
    assert request.field("Content-Length") == ["14"]
    assert request.body == b'{"id": "LOC1"}'


@run
async def test_a_call_without_a_body() -> None:
    got = await seen(None, method="GET", base64_encoded=False)
    assert got.field("Authorization") == ["Token secret-token"]
    assert not got.field("Content-Type") and not got.field("Content-Length")
    emptied = await seen(None, method="PUT")
    assert emptied.field("Content-Length") == ["0"]


@run
async def test_the_host_field_names_the_port_unless_it_is_the_default() -> None:
    async def named(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with serving(answering) as server, client(resolve=named) as made:
        await get(made, f"http://Platform.Example.com:{server.port}")
        request = server.requests[0]
        assert request.target == "/"
        assert request.field("Host") == [f"platform.example.com:{server.port}"]


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("/ocpi/2.2.1/locations?offset=50&limit=50", "/ocpi/2.2.1/locations?offset=50&limit=50"),
        ("?date_from=2026-01-01T00:00:00Z", "/?date_from=2026-01-01T00:00:00Z"),
        ("/cdrs/a%2Fb#fragment", "/cdrs/a%2Fb"),
        ("/a b/é", "/a%20b/%C3%A9"),
        ("/x\r\nX-Injected: 1", "/x%0D%0AX-Injected:%201"),
    ],
)
def test_the_request_target(path: str, target: str) -> None:
    async def test() -> None:
        async with serving(answering) as server, client() as made:
            await get(made, f"http://127.0.0.1:{server.port}{path}")
            await get(made, f"http://127.0.0.1:{server.port}{path}")  # the origin known now
            assert [r.target for r in server.requests] == [target, target]
            assert not server.requests[0].field("X-Injected")

    run(test)()


@pytest.mark.parametrize(
    "headers",
    [{"X-Correlation-ID": "a\r\nX-Injected: 1"}, {"Content-Length": "0"}, {"Bad\nName": "x"}],
)
def test_a_field_that_would_break_the_head_is_never_sent(headers: dict[str, str]) -> None:
    async def test() -> None:
        async with serving(answering) as server, client() as made:
            with pytest.raises(ReceiverUnreachableError):
                await get(made, server.url(), headers=headers)
            assert server.requests == []

    run(test)()


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/x", "http:///no-host", "http://127.0.0.1:99999/"])
def test_a_url_the_client_cannot_call_is_unreachable(url: str) -> None:
    async def test() -> None:
        async with client() as made:
            with pytest.raises(ReceiverUnreachableError):
                await get(made, url)

    run(test)()


@run
async def test_large_bodies_arrive_byte_for_byte_on_one_connection() -> None:
    bodies = [os.urandom(3 * 1024 * 1024), os.urandom(1024 * 1024 + 1), b"{}"]
    digests: list[str] = []

    async def reading_slowly(peer: Peer) -> None:
        while True:
            await asyncio.sleep(0.05)  # the client's buffer fills: it must wait, not pile up
            request = await peer.request()
            if request is None:
                return
            digests.append(hashlib.sha256(request.body).hexdigest())
            await peer.answer()

    async with serving(reading_slowly) as server, client() as made:
        for body in bodies:
            assert (await get(made, server.url(), "PUT", body=body)).body == OK
        assert digests == [hashlib.sha256(b).hexdigest() for b in bodies]
        assert server.accepted == 1


@run
async def test_an_answer_before_the_whole_body_was_sent() -> None:
    """A receiver that refuses a body at once (413) is heard; the body is not sent on."""

    async def refusing(peer: Peer) -> None:
        if peer.number > 0:
            await answering(peer)
            return
        await peer.reader.readuntil(b"\r\n\r\n")  # the head only
        await peer.answer(status="413 Content Too Large")
        await asyncio.sleep(30)  # reading nothing more, and not closing either

    async with serving(refusing) as server, client() as made:
        answer = await get(made, server.url(), "PUT", body=b"x" * (32 * 1024 * 1024))
        assert answer.status == 413
        assert (await get(made, server.url(), "PUT", body=b"{}")).status == 200


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
@run
async def test_ipv6_loopback() -> None:
    async with serving(answering, host="::1") as server:
        url = f"http://[::1]:{server.port}/ocpi/versions"
        async with client() as made:
            assert (await get(made, url)).body == OK
            assert server.requests[0].field("Host") == [f"[::1]:{server.port}"]
        async with client(allow_private_urls=False) as guarded:
            with pytest.raises(RefusedUrlError) as refused:
                await get(guarded, url)
            assert refused.value.reason == "its host is a loopback address"
