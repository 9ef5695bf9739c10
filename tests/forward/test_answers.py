"""How the outbound client reads answers, from real servers on loopback that write them byte
for byte: chunked, delimited by the connection's end, without a body, compressed, with interim
answers, and refused past the size limit without being read whole."""

from __future__ import annotations

import asyncio
import gzip
import zlib

import pytest

from hub.errors import AnswerTooLargeError, ReceiverBrokenError, ReceiverUnreachableError
from tests.forward.raw import OK, Peer, answering, client, get, run, serving

LIMIT = 1024 * 1024


def chunked(*pieces: bytes) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


@run
async def test_a_chunked_answer_is_read_whole_and_its_connection_kept() -> None:
    pieces = [b'{"status_code":', b"1000", b', "data": "' + b"x" * 100_000 + b'"}']

    async def chunking(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            for piece in pieces:
                await peer.send(chunked(piece)[: -len(b"0\r\n\r\n")])
                await asyncio.sleep(0.01)
            await peer.send(b"0\r\n\r\n")

    async with serving(chunking) as server, client() as made:
        for _ in range(2):
            assert (await get(made, server.url())).body == b"".join(pieces)
        assert server.accepted == 1


@run
async def test_an_answer_delimited_by_the_end_of_its_connection() -> None:
    async def closing(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n")
        await peer.send(OK[:10])
        await asyncio.sleep(0.05)
        await peer.send(OK[10:])
        peer.close()

    async with serving(closing) as server, client() as made:
        for _ in range(2):
            assert (await get(made, server.url())).body == OK
        assert server.accepted == 2


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_an_answer_without_a_body_keeps_its_connection(status: bytes) -> None:
    async def test() -> None:
        async def empty(peer: Peer) -> None:
            while await peer.request() is not None:
                await peer.send(b"HTTP/1.1 " + status + b"\r\nETag: x\r\n\r\n")

        async with serving(empty) as server, client() as made:
            for _ in range(3):
                answer = await get(made, server.url())
                assert (answer.status, answer.body) == (int(status[:3]), b"")
            assert server.accepted == 1

    run(test)()


@run
async def test_an_interim_answer_is_skipped() -> None:
    async def interim(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            await peer.answer(status="201 Created")

    async with serving(interim) as server, client() as made:
        for _ in range(2):
            answer = await get(made, server.url(), "PUT", body=b"{}")
            assert (answer.status, answer.body) == (201, OK)
        assert server.accepted == 1


@run
async def test_a_declared_size_over_the_limit_is_refused_before_a_byte_of_the_body() -> None:
    async def huge(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))
        await peer.closed_by_client()  # and never a byte of the body

    async with serving(huge) as server, client(timeout=5) as made:
        with pytest.raises(AnswerTooLargeError) as refused:
            await get(made, server.url())
        assert isinstance(refused.value, ReceiverBrokenError)  # OCPI 4000
        assert refused.value.message == f"the answer is larger than the hub accepts ({LIMIT} bytes)"


@pytest.mark.parametrize("framing", ["chunked", "close"])
def test_an_endless_answer_is_cut_at_the_limit(framing: str) -> None:
    sent = 0

    async def endless(peer: Peer) -> None:
        nonlocal sent
        await peer.request()
        coding = b"Transfer-Encoding: chunked\r\n" if framing == "chunked" else b""
        await peer.send(b"HTTP/1.1 200 OK\r\n" + coding + b"\r\n")
        piece = b"x" * 65536
        for _ in range(1000):  # 64 MiB at most; the client stops reading long before
            await peer.send(chunked(piece)[:-5] if framing == "chunked" else piece)
            sent += len(piece)

    async def test() -> None:
        async with serving(endless) as server, client() as made:
            with pytest.raises(AnswerTooLargeError):
                await get(made, server.url())
        assert sent < 16 * LIMIT

    run(test)()


@run
async def test_an_answer_just_at_the_limit_is_read() -> None:
    body = b"x" * LIMIT

    async def full(peer: Peer) -> None:
        await peer.request()
        await peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        await peer.send(chunked(body[: LIMIT // 2], body[LIMIT // 2 :]))
        await answering(peer)

    async with serving(full) as server, client() as made:
        assert (await get(made, server.url())).body == body


@pytest.mark.parametrize("coding", ["gzip", "deflate", "raw-deflate"])
def test_a_compressed_answer_is_decoded(coding: str) -> None:
    async def test() -> None:
        packed = {
            "gzip": gzip.compress(OK),
            "deflate": zlib.compress(OK),
            "raw-deflate": zlib.compress(OK, wbits=-15),
        }[coding]
        name = coding.removeprefix("raw-").encode()

        async def compressing(peer: Peer) -> None:
            request = await peer.request()
            assert request is not None
            assert request.field("Accept-Encoding") == ["gzip, deflate"]
            await peer.answer(packed, extra=b"Content-Encoding: " + name + b"\r\n")

        async with serving(compressing) as server, client() as made:
            answer = await get(made, server.url())
            assert answer.body == OK
            assert answer.headers["content-encoding"] == name.decode()

    run(test)()


@run
async def test_a_small_compressed_answer_that_would_pass_the_limit_is_refused() -> None:
    bomb = gzip.compress(b"\0" * (4 * LIMIT))

    async def compressing(peer: Peer) -> None:
        await peer.request()
        await peer.answer(bomb, extra=b"Content-Encoding: gzip\r\n")

    async with serving(compressing) as server, client() as made:
        assert len(bomb) < LIMIT
        with pytest.raises(AnswerTooLargeError):
            await get(made, server.url())


@pytest.mark.parametrize(
    "answer",
    [
        b"SSH-2.0-OpenSSH_9.6\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\nnope",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",  # then the connection ends
    ],
    ids=["not-http", "bad-length", "bad-gzip", "upgrade", "cut-short"],
)
def test_what_is_no_answer_is_a_receiver_that_cannot_be_reached(answer: bytes) -> None:
    async def test() -> None:
        async def broken(peer: Peer) -> None:
            await peer.request()
            await peer.send(answer)

        async with serving(broken) as server, client() as made:
            with pytest.raises(ReceiverUnreachableError, match=r"^could not connect$"):
                await get(made, server.url())

    run(test)()


@run
async def test_answer_headers_keep_their_spelling_and_are_found_in_any_case() -> None:
    async def paging(peer: Peer) -> None:
        await peer.request()
        await peer.answer(
            extra=b"X-Total-Count: 120\r\nlink: <https://cpo.example.com/l?offset=50>; "
            b'rel="next"\r\nX-Limit: 50\r\nLocation: https://cpo.example.com/c/\xe9\r\n'
        )

    async with serving(paging) as server, client() as made:
        headers = (await get(made, server.url())).headers
        assert headers["X-Total-Count"] == headers["x-total-count"] == "120"
        assert headers["Link"] == '<https://cpo.example.com/l?offset=50>; rel="next"'
        assert "X-LIMIT" in headers and "x-nope" not in headers
        assert headers.get("x-nope") is None
        # Bytes outside ASCII come back as they were when passed on (latin-1 both ways).
        assert headers["location"].encode("latin-1").endswith(b"/c/\xe9")
        assert {"X-Total-Count", "link", "X-Limit", "Location"} <= set(headers)
        assert dict(headers)["link"].startswith("<https://")
        assert {k.lower(): v for k, v in headers.items()}["x-limit"] == "50"
