"""The outbound client's connections against real servers on loopback: kept alive and reused,
never reused once either side may have ended them, retried once when a receiver dropped a
kept-alive connection under a request, and bounded in time."""

from __future__ import annotations

import asyncio
import time

import pytest

from hub.errors import ReceiverTimeoutError, ReceiverUnreachableError
from tests.forward.raw import OK, Peer, answering, client, get, run, serving
from tests.parties import free_port


@run
async def test_one_connection_carries_many_calls() -> None:
    async with serving(answering) as server, client() as made:
        for _ in range(50):
            assert (await get(made, server.url())).status == 200
        assert server.accepted == 1
        # Calls at the same time each need one; afterwards they are all kept and reused.
        answers = await asyncio.gather(*(get(made, server.url()) for _ in range(8)))
        assert [a.body for a in answers] == [OK] * 8
        opened = server.accepted
        assert opened <= 8
        await asyncio.gather(*(get(made, server.url()) for _ in range(8)))
        assert server.accepted == opened
        assert len(server.requests) == 66


@run
async def test_a_connection_closed_by_the_receiver_while_idle_is_not_reused() -> None:
    async def once(peer: Peer) -> None:
        await peer.request()
        await peer.answer()
        peer.close()  # as a receiver whose keep-alive time ran out

    async with serving(once) as server, client() as made:
        assert (await get(made, server.url())).status == 200
        await asyncio.sleep(0.1)  # the client has seen the end of the connection
        assert (await get(made, server.url())).status == 200
        assert server.accepted == 2
        assert len(server.requests) == 2  # no request was sent on the closed connection


@pytest.mark.parametrize("closing", [b"Connection: close\r\n", b""], ids=["said", "unsaid"])
def test_a_receiver_that_closes_right_after_answering(closing: bytes) -> None:
    async def test() -> None:
        async def once(peer: Peer) -> None:
            await peer.request()
            await peer.answer(extra=closing)
            peer.close()

        async with serving(once) as server, client() as made:
            for _ in range(3):  # one after the other, without waiting
                assert (await get(made, server.url())).body == OK
            assert server.accepted == 3
            assert len(server.requests) == 3

    run(test)()


@run
async def test_an_http_1_0_answer_ends_its_connection() -> None:
    async def old(peer: Peer) -> None:
        while await peer.request() is not None:
            await peer.send(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n{}")

    async with serving(old) as server, client() as made:
        assert (await get(made, server.url())).body == b"{}"
        assert (await get(made, server.url())).body == b"{}"
        assert server.accepted == 2


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_a_request_on_a_connection_the_receiver_dropped_goes_again_on_a_new_one(
    method: str,
) -> None:
    """The receiver closes a kept-alive connection as the next request arrives on it (its
    keep-alive time ran out just then): an idempotent request is sent once more."""

    async def test() -> None:
        async def dropping(peer: Peer) -> None:
            await peer.request()
            await peer.answer()
            if peer.number == 0:
                await peer.request()  # read, then dropped unanswered
                return
            await answering(peer)

        body = b'{"id": "LOC1"}' if method == "PUT" else None
        async with serving(dropping) as server, client() as made:
            assert (await get(made, server.url(), method, body=body)).status == 200
            assert (await get(made, server.url(), method, body=body)).status == 200
            assert server.accepted == 2
            assert [r.method for r in server.requests] == [method] * 3
            if body is not None:
                assert {r.body for r in server.requests} == {body}

    run(test)()


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_request_that_may_not_be_repeated_is_not(method: str) -> None:
    async def test() -> None:
        async def dropping(peer: Peer) -> None:
            await peer.request()
            await peer.answer()
            await peer.request()

        async with serving(dropping) as server, client() as made:
            await get(made, server.url(), method, body=b"{}")
            with pytest.raises(ReceiverUnreachableError):
                await get(made, server.url(), method, body=b"{}")
            assert server.accepted == 1
            assert len(server.requests) == 2

    run(test)()


@run
async def test_a_new_connection_that_fails_is_not_tried_again() -> None:
    async def dropping(peer: Peer) -> None:
        await peer.request()

    async with serving(dropping) as server, client() as made:
        with pytest.raises(ReceiverUnreachableError) as unreachable:
            await get(made, server.url())
        assert unreachable.value.message == "could not connect"
        assert server.accepted == 1


@run
async def test_a_refused_connection_is_said_in_general_terms() -> None:
    async with client() as made:
        with pytest.raises(ReceiverUnreachableError) as unreachable:
            await get(made, f"http://127.0.0.1:{free_port()}/ocpi/versions?token=secret")
        assert unreachable.value.message == "could not connect"


@run
async def test_a_receiver_that_never_answers_is_a_timeout() -> None:
    async def silent(peer: Peer) -> None:
        await peer.request()
        await peer.closed_by_client()

    async with serving(silent) as server, client(timeout=0.3) as made:
        started = time.monotonic()
        with pytest.raises(ReceiverTimeoutError) as timed_out:
            await get(made, server.url())
        assert 0.3 <= time.monotonic() - started < 2
        assert timed_out.value.message == "no answer within 0.3 s"
        # A request's own time limit takes the place of the client's.
        with pytest.raises(ReceiverTimeoutError, match=r"within 0.1 s"):
            await get(made, server.url(), timeout=0.1)


@run
async def test_an_answer_that_stalls_mid_body_is_a_timeout_and_its_connection_dropped() -> None:
    closed: list[bool] = []

    async def stalling(peer: Peer) -> None:
        await peer.request()
        if peer.number == 0:
            await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 50)
            closed.append(await peer.closed_by_client())
            return
        await peer.answer()
        await answering(peer)

    async with serving(stalling) as server, client(timeout=0.3) as made:
        with pytest.raises(ReceiverTimeoutError):
            await get(made, server.url())
        assert (await get(made, server.url())).body == OK
        assert server.accepted == 2
        assert closed == [True]


@run
async def test_a_cancelled_request_gives_its_connection_up() -> None:
    arrived = asyncio.Event()
    closed: list[bool] = []

    async def slow_first(peer: Peer) -> None:
        await peer.request()
        if peer.number == 0:
            arrived.set()
            closed.append(await peer.closed_by_client())
            return
        await peer.answer()
        await answering(peer)

    async with serving(slow_first) as server, client() as made:
        call = asyncio.create_task(get(made, server.url()))
        await arrived.wait()
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
        assert (await get(made, server.url())).body == OK
        assert server.accepted == 2
        assert closed == [True]


@run
async def test_bytes_no_request_asked_for_end_the_connection() -> None:
    async def chatty(peer: Peer) -> None:
        await peer.request()
        await peer.answer()
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")  # unasked
        await answering(peer)

    async with serving(chatty) as server, client() as made:
        assert (await get(made, server.url())).body == OK
        await asyncio.sleep(0.1)
        assert (await get(made, server.url())).body == OK
        assert server.accepted == 2


@run
async def test_idle_connections_are_closed_after_the_idle_timeout() -> None:
    closed: list[float] = []

    async def watched(peer: Peer) -> None:
        await peer.request()
        await peer.answer()
        answered = time.monotonic()
        assert await peer.closed_by_client()
        closed.append(time.monotonic() - answered)

    async with serving(watched) as server, client(idle_timeout=0.3) as made:
        await get(made, server.url())
        for _ in range(40):
            if closed:
                break
            await asyncio.sleep(0.05)
        assert closed and 0.2 < closed[0] < 1.5


@run
async def test_closing_the_client_closes_its_connections() -> None:
    ends: list[bool] = []

    async def watched(peer: Peer) -> None:
        await peer.request()
        await peer.answer()
        ends.append(await peer.closed_by_client())

    async with serving(watched) as server:
        async with client() as made:
            await asyncio.gather(*(get(made, server.url()) for _ in range(3)))
        for _ in range(40):
            if len(ends) == server.accepted:
                break
            await asyncio.sleep(0.05)
        assert ends == [True] * server.accepted


def test_the_client_on_uvloop() -> None:
    """uvicorn runs the hub on uvloop when it is installed: its transports are not asyncio's."""
    uvloop = pytest.importorskip("uvloop")

    async def test() -> None:
        body = b"x" * (3 * 1024 * 1024)

        async def silent_third(peer: Peer) -> None:
            for _ in range(2):
                request = await peer.request()
                assert request is not None
                await peer.answer(str(len(request.body)).encode())
            await peer.request()
            await peer.closed_by_client()

        async with serving(silent_third) as server, client(timeout=0.3) as made:
            assert (await get(made, server.url(), "PUT", body=body)).body == b"3145728"
            assert (await get(made, server.url(), "PUT", body=b"{}")).body == b"2"
            with pytest.raises(ReceiverTimeoutError):
                await get(made, server.url())
            assert server.accepted == 1

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(test(), 30))
