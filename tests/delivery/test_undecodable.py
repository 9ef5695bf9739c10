"""A queue entry that cannot be decoded is parked as a dead letter with its reason and raw
bytes; the rest of the queue is delivered, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from hub.errors import ConflictError
from hub.store import keys
from tests.delivery.harness import Receiver, hub, running, until

POISON = {
    "not JSON": ({b"m": b"\xffnot json"}, "\\xffnot json", "JSON is malformed"),
    "not a message": (
        {b"m": b'{"module": "locations"}'},
        '{"module": "locations"}',
        "missing required field",
    ),
    "no field m": ({b"x": b"y"}, '{"x":"y"}', "no field 'm' (it has: x)"),
}


def test_undecodable_entries_are_parked_and_the_rest_is_delivered(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, retry_base=0.05, retry_max=0.2) as h:
            with Receiver() as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                stream = keys.queue(platform_id)
                # A good message first (it creates the stream and its group), then one poisoned
                # entry, written straight into the stream, before each further good message.
                await h.push(platform_id, "L0")
                for i, (fields, _, _) in enumerate(POISON.values(), start=1):
                    await h.redis.xadd(stream, fields)  # type: ignore[arg-type]
                    await h.push(platform_id, f"L{i}")
                async with running(h.deliverer):
                    expected = [f"/ocpi/2.2.1/locations/NL/CPO/L{i}" for i in range(4)]
                    await until(
                        lambda: asyncio.sleep(0, len(receiver.paths()) >= 4), "the good ones"
                    )
                    assert sorted(receiver.paths()) == expected  # objects of their own
                    letters = await until(
                        lambda: _all(h.queue.dead_letters(platform_id), 3), "the dead letters"
                    )
                    # Taken by the receiver is not yet acknowledged: wait for the queue itself.
                    await until(lambda: _empty(h, platform_id), "an empty queue")
                assert [(d.message, d.attempts) for d in letters] == [(None, 0)] * 3
                for letter, (raw, why) in zip(
                    letters, [(raw, why) for _, raw, why in POISON.values()], strict=True
                ):
                    assert letter.raw == raw
                    assert letter.reason.startswith("undecodable queue entry: ")
                    assert why in letter.reason
                assert (await h.queue.stats(platform_id)).depth == 0

                # They can never be delivered: redriving skips them, naming one is refused.
                assert await h.queue.redrive(platform_id) == (0, 3)
                with pytest.raises(ConflictError, match="can never be delivered"):
                    await h.queue.redrive(platform_id, [letters[0].id])
                assert len(await h.queue.dead_letters(platform_id)) == 3

    asyncio.run(scenario())


def test_an_undecodable_entry_left_pending_by_a_dead_process_is_parked(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url) as h:
            with Receiver() as receiver:
                platform_id = await h.add_platform("EMB", receiver)
                stream = keys.queue(platform_id)
                await h.push(platform_id, "L0")
                await h.redis.xadd(stream, {b"m": b'{"module": '})
                await h.push(platform_id, "L1")
                # A process read all three, then died: they are pending, claimed by the next.
                await h.redis.xreadgroup("delivery", "gone", {stream: ">"}, count=10)
                async with running(h.deliverer):
                    await until(
                        lambda: asyncio.sleep(0, len(receiver.paths()) >= 2), "the good ones"
                    )
                    (letter,) = await until(
                        lambda: h.queue.dead_letters(platform_id), "the dead letter"
                    )
                assert sorted(receiver.paths()) == [  # objects of their own: any order
                    "/ocpi/2.2.1/locations/NL/CPO/L0",
                    "/ocpi/2.2.1/locations/NL/CPO/L1",
                ]
                assert (letter.raw, letter.message) == ('{"module": ', None)
                assert "truncated" in letter.reason
                pending = await h.redis.xpending(stream, "delivery")
                assert pending["pending"] == 0

    asyncio.run(scenario())


def test_whatever_the_dead_letters_hold_is_listed(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url) as h:
            dead = keys.dead_letters("p1")
            await h.redis.xadd(dead, {b"junk": b"\xff"})
            await h.redis.xadd(dead, {b"m": b"{}", b"attempts": b"many", b"parked_at": b"?"})
            first, second = await h.queue.dead_letters("p1")
            assert (first.message, first.raw, first.reason) == (None, '{"junk":"\\\\xff"}', "")
            assert (second.message, second.raw, second.attempts, second.parked_at) == (
                None,
                "{}",
                0,
                0.0,
            )
            assert await h.queue.redrive("p1") == (0, 2)

    asyncio.run(scenario())


async def _all(letters: Awaitable[list[Any]], count: int) -> list[Any] | None:
    """The dead letters once there are ``count`` of them."""
    found = await letters
    return found if len(found) >= count else None


async def _empty(h: Any, platform_id: str) -> bool:
    return bool((await h.queue.stats(platform_id)).depth == 0)
