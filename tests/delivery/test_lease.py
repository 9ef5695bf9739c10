"""One process at a time delivers a platform's queue: the one holding it. Two processes deliver
each message once and in order; one that lost its hold stops sending at once; when a process
stops, the other one delivers."""

from __future__ import annotations

import asyncio
import json
import time

import msgspec

from hub.delivery.worker import HOLD_SECONDS
from hub.store import keys
from tests.delivery.harness import Hub, Receiver, hub, location, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}


async def patches(h: Hub, platform_id: str, first: int, last: int) -> None:
    """Changes number ``first`` to ``last - 1`` of one location: delivered in this order."""
    await h.queue.put(
        [
            (
                platform_id,
                msgspec.structs.replace(
                    location("L1"),
                    method="PATCH",
                    full_state=False,
                    body=msgspec.Raw(json.dumps({"n": n}).encode()),
                ),
            )
            for n in range(first, last)
        ]
    )


def changes(receiver: Receiver) -> list[int]:
    return [r.body["n"] for r in receiver.received if r.method == "PATCH"]


def test_two_processes_deliver_each_message_once_in_order_and_take_over(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, **FAST) as a, hub(redis_url, **FAST) as b:
            with Receiver() as receiver:
                platform_id = await a.add_platform("EMA", receiver)
                await patches(a, platform_id, 0, 10)
                async with running(a.deliverer) as task_a, running(b.deliverer):
                    await until(lambda: asyncio.sleep(0, len(changes(receiver)) >= 10), "ten")
                    for n in range(10, 40):  # queued one at a time, by either process
                        await patches(a if n % 2 else b, platform_id, n, n + 1)
                    await until(lambda: asyncio.sleep(0, len(changes(receiver)) >= 40), "40")

                    # One process stops: the other delivers what comes next.
                    task_a.cancel()
                    await asyncio.wait({task_a}, timeout=30)
                    await patches(a, platform_id, 40, 45)
                    await until(lambda: asyncio.sleep(0, len(changes(receiver)) >= 45), "45")
                    assert await a.queue.schedule.holder(platform_id) in (
                        None,
                        b.deliverer.consumer,
                    )
                # Each once, in the order queued (changes of one object are never reordered).
                assert changes(receiver) == list(range(45))

    asyncio.run(scenario())


def test_a_process_that_lost_its_hold_stops_sending(redis_url: str) -> None:
    """Another process took the platform (this one was paused too long, say) while a call was
    under way: once it notices (at its next renewal) this one sends nothing more to that
    platform, so that two never send at the same time; it delivers again when the platform is
    its own again, the unacknowledged call first."""

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver() as receiver:
                receiver.hang.set()
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the first call")
                    assert await h.queue.schedule.holder(platform_id) == h.deliverer.consumer
                    held_for = HOLD_SECONDS / 3 + 3.0
                    taken_until = int((time.time() + held_for) * 1000)
                    await h.redis.hset(keys.delivery_holders(), platform_id, "another process")
                    await h.redis.zadd(keys.delivery_due(), {platform_id: taken_until})
                    stolen = time.monotonic()
                    # The theft is noticed at the next renewal, within a third of the hold.
                    await asyncio.sleep(HOLD_SECONDS / 3 + 0.5)
                    await h.push(platform_id, "L1", "L2")
                    receiver.release()
                    await asyncio.sleep(held_for - (time.monotonic() - stolen) - 0.5)
                    assert receiver.paths() == ["/ocpi/2.2.1/locations/NL/CPO/L1"], (
                        "it sent without holding the platform"
                    )
                    assert await h.queue.schedule.holder(platform_id) == "another process"
                    # The other process never lets go: its hold expires, this one takes over.
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 2), "L2")
                # The first L1 was not acknowledged, but the newer L1 makes it moot: the newer
                # one and L2 are sent, each once (two objects: in either order).
                assert sorted(receiver.paths()[1:]) == [
                    "/ocpi/2.2.1/locations/NL/CPO/L1",
                    "/ocpi/2.2.1/locations/NL/CPO/L2",
                ]

    asyncio.run(scenario())
