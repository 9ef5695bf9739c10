"""What becomes of a queued message, decided by the receiver's answer and by the message itself:
delivered (perhaps after retries), or parked as a dead letter with the reason. And what a
delivered message carries: its query, its routing headers, the platform's token."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from typing import Any

import msgspec
import pytest

from hub.delivery.messages import DeadLetter, Message
from tests.delivery.harness import OK, Hub, Received, Receiver, Reply, hub, location, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}
L1 = "/ocpi/2.2.1/locations/NL/CPO/L1"


def envelope(status_code: int, message: str) -> bytes:
    return json.dumps(
        {"status_code": status_code, "status_message": message, "timestamp": "2026-01-01T00:00:00Z"}
    ).encode()


def at_first(answer: tuple[int, bytes], times: int = 1) -> Reply:
    """A receiver that answers ``answer`` to its first ``times`` calls, then takes them."""
    seen = 0
    lock = threading.Lock()

    def reply(_: Received) -> tuple[int, bytes] | None:
        nonlocal seen
        with lock:
            seen += 1
            return answer if seen <= times else None

    return reply


async def parked(h: Hub, platform_id: str) -> DeadLetter:
    letters: list[DeadLetter] = await until(
        lambda: h.queue.dead_letters(platform_id), "the dead letter"
    )
    (letter,) = letters
    return letter


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ((400, b"no such location"), "refused with HTTP 400: b'no such location'"),
        ((404, envelope(2003, "Unknown location")), "refused with HTTP 404"),
        ((200, envelope(2001, "Invalid or missing parameters")), "refused with OCPI 2001"),
    ],
    ids=["HTTP 400", "HTTP 404", "OCPI 2001"],
)
def test_a_refusal_for_good_parks_the_message_at_once(
    redis_url: str, answer: tuple[int, bytes], reason: str
) -> None:
    """A 4xx or an OCPI 2xxx cannot change with a retry: the message is parked after one
    attempt, and the next one in the queue is delivered."""

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver(at_first(answer)) as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1", "L2")
                async with running(h.deliverer):
                    letter = await parked(h, platform_id)
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "L2")
                    # Taken by the receiver is not yet acknowledged: wait for the queue itself.
                    await until(lambda: _empty(h, platform_id), "an empty queue")
                assert letter.reason.startswith(reason), letter.reason
                assert letter.attempts == 1
                # Two objects: sent at the same time, so either may be the first (refused).
                first, second = receiver.tried()
                assert sorted([first, second]) == [L1, L1.replace("L1", "L2")]
                assert letter.message is not None and first.endswith(letter.message.path)
                assert receiver.paths() == [second]

    asyncio.run(scenario())


def test_a_parked_message_redriven_is_delivered(redis_url: str) -> None:
    """Redriven (the operator's ``dead-letters --redrive``): queued again as it was, with a
    fresh TTL, and gone from the dead letters."""

    async def scenario() -> None:
        async with hub(redis_url, message_ttl=60, **FAST) as h:
            with Receiver(at_first((400, b"not yet"))) as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    letter = await parked(h, platform_id)
                    assert letter.message is not None
                    assert await h.queue.redrive(platform_id, [letter.id]) == (1, 0)
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the redriven one")
                    assert await h.queue.dead_letters(platform_id) == []
                (taken,) = [r for r in receiver.received if r.path == L1]
                assert taken.body == {"id": "L1"}
                assert taken.headers["x-correlation-id"] == letter.message.correlation_id

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "answer",
    [
        (503, b""),
        (408, b""),
        (429, b""),
        # "Come back later", whatever OCPI status the body gives it.
        (408, envelope(2000, "Request timeout")),
        (429, envelope(2000, "Too many requests")),
        (500, envelope(1000, "Success")),
        (200, envelope(3000, "Generic server error")),
        (200, b"<html>not OCPI</html>"),
    ],
    ids=[
        "HTTP 503",
        "HTTP 408",
        "HTTP 429",
        "HTTP 408 with OCPI 2000",
        "HTTP 429 with OCPI 2000",
        "HTTP 500 with 1000",
        "OCPI 3000",
        "no envelope",
    ],
)
def test_a_failure_that_may_pass_is_retried_until_delivered(
    redis_url: str, answer: tuple[int, bytes]
) -> None:
    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver(at_first(answer, times=2)) as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the delivery")
                    assert await h.queue.dead_letters(platform_id) == []
                assert receiver.tried() == [L1] * 3
                assert receiver.paths() == [L1]

    asyncio.run(scenario())


def test_a_receiver_that_does_not_answer_in_time_gets_the_message_again(redis_url: str) -> None:
    first = threading.Event()

    def slow_once(_: Received) -> tuple[int, bytes] | None:
        if first.is_set():
            return None
        first.set()
        time.sleep(1.0)  # well past forward_timeout: the hub gave up on this call
        return 200, OK

    async def scenario() -> None:
        async with hub(redis_url, forward_timeout=0.2, **FAST) as h:
            with Receiver(slow_once) as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the retry")
                assert receiver.tried() == [L1, L1]
                assert await h.queue.dead_letters(platform_id) == []

    asyncio.run(scenario())


def test_a_message_that_cannot_be_sent_is_parked_with_the_reason(redis_url: str) -> None:
    """What the queue holds is read again before it is sent: a path that is not ids (it could
    leave the endpoint), a module the platform has no endpoint for, a platform the hub holds no
    token for. None of them is ever sent: each is parked at once."""

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver() as receiver, Receiver() as tokenless:
                platform_id = await h.add_platform("EMA", receiver)
                escaping = msgspec.structs.replace(location("L1"), path="NL/CPO/../../admin")
                tariff = msgspec.structs.replace(location("T1"), module="tariffs")
                await h.queue.put([(platform_id, escaping), (platform_id, tariff)])
                await h.push(platform_id, "L2")
                no_token = await h.add_platform("EMB", tokenless, token=False)
                await h.push(no_token, "L3")
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "L2")
                    letters = await until(
                        lambda: _at_least(h, platform_id, 2), "the two dead letters"
                    )
                    (no_token_letter,) = await until(
                        lambda: h.queue.dead_letters(no_token), "the tokenless one"
                    )
                reasons = [(d.reason, d.attempts) for d in letters]
                assert reasons == [
                    (
                        "the message's path is not a path of ids: segment 3 of the path below "
                        "the module is '..', not an id",
                        1,
                    ),
                    ("the platform has no tariffs RECEIVER endpoint", 0),
                ]
                assert (no_token_letter.reason, no_token_letter.attempts) == (
                    "the hub holds no token for this platform",
                    1,
                )
                assert receiver.tried() == ["/ocpi/2.2.1/locations/NL/CPO/L2"]
                assert tokenless.tried() == []

    asyncio.run(scenario())


async def _at_least(h: Hub, platform_id: str, count: int) -> list[DeadLetter]:
    letters = await h.queue.dead_letters(platform_id)
    return letters if len(letters) >= count else []


def test_a_message_that_outlives_its_ttl_is_parked_with_the_last_error(redis_url: str) -> None:
    async def scenario() -> None:
        # offline_after: high, so that the platform stays CONNECTED and every attempt is a push.
        async with hub(redis_url, message_ttl=0.5, offline_after=1000, **FAST) as h:
            with Receiver() as receiver:
                receiver.down = True
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    letter = await parked(h, platform_id)
                    assert (await h.queue.stats(platform_id)).depth == 0
                assert letter.reason == (
                    "expired after 0.5 s; last error: HTTP 503 without an OCPI envelope"
                )
                assert letter.attempts == len(receiver.tried()) >= 2
                assert receiver.received == []

    asyncio.run(scenario())


def test_a_delivered_message_carries_its_query_routing_headers_and_the_token(
    redis_url: str,
) -> None:
    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver() as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                routed: Message = msgspec.structs.replace(
                    location("L1"), query="offset=0&limit=5", receiver=("NL", "EMA")
                )
                # A configuration module's message (HubClientInfo) has no OCPI-from or -to.
                unrouted = msgspec.structs.replace(location("L2"), sender=None)
                await h.queue.put([(platform_id, routed), (platform_id, unrouted)])
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) == 2), "both")
                # Two objects, sent at the same time: in either order.
                taken = [r for r in receiver.received if r.path.startswith(L1[:-2])]
                first, second = sorted(taken, key=lambda r: r.path)
                assert first.path == f"{L1}?offset=0&limit=5"
                assert first.body == {"id": "L1"}
                token = base64.b64encode(b"token-EMA").decode()
                assert first.headers["authorization"] == f"Token {token}"
                assert first.headers["x-correlation-id"] == routed.correlation_id
                routing = {k: v for k, v in first.headers.items() if k.startswith("ocpi-")}
                assert routing == {
                    "ocpi-from-country-code": "NL",
                    "ocpi-from-party-id": "HUB",
                    "ocpi-to-country-code": "NL",
                    "ocpi-to-party-id": "EMA",
                }
                assert not [k for k in second.headers if k.startswith("ocpi-")]

    asyncio.run(scenario())


async def _empty(h: Any, platform_id: str) -> bool:
    return bool((await h.queue.stats(platform_id)).depth == 0)
