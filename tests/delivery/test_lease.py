"""One process at a time delivers a platform's queue: the one holding its lease. Two processes
deliver each message once and in order; one that loses its lease stops sending at once; when
the holder stops, the other takes over."""

from __future__ import annotations

import asyncio
import time

from hub.delivery.worker import LEASE_SECONDS
from hub.store import keys
from tests.delivery.harness import Receiver, hub, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}


def numbered(first: int, last: int) -> list[str]:
    return [f"L{i:02}" for i in range(first, last)]


def test_two_processes_deliver_each_message_once_in_order_and_take_over(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, **FAST) as a, hub(redis_url, **FAST) as b:
            with Receiver() as receiver:
                platform_id = await a.add_platform("EMA", receiver)
                await a.push(platform_id, *numbered(0, 10))
                async with running(a.deliverer) as task_a, running(b.deliverer) as task_b:
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 10), "ten")
                    holder = await a.queue.holder(platform_id)
                    roles = {a.deliverer.consumer: (task_a, b), b.deliverer.consumer: (task_b, a)}
                    assert holder in roles
                    holding, other = roles[holder]
                    for i in range(10, 20):  # queued one at a time, by either process
                        await (a if i % 2 else b).push(platform_id, f"L{i:02}")
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 20), "20")
                    assert await a.queue.holder(platform_id) == holder

                    # The holder stops (it hands its lease back): the other one delivers.
                    holding.cancel()
                    await asyncio.wait({holding}, timeout=30)
                    await other.push(platform_id, *numbered(20, 25))
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 25), "25")
                    assert await a.queue.holder(platform_id) == other.deliverer.consumer
                assert receiver.paths() == [
                    f"/ocpi/2.2.1/locations/NL/CPO/{i}" for i in numbered(0, 25)
                ]

    asyncio.run(scenario())


def test_a_process_that_lost_its_lease_stops_sending(redis_url: str) -> None:
    """Another process took the lease (this one was paused too long, say): this one stops
    retrying at once, so that two never send to the platform at the same time; it delivers
    again when it holds the lease again."""

    async def scenario() -> None:
        async with hub(redis_url, offline_after=1000, **FAST) as h:
            with Receiver() as receiver:
                receiver.down = True
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, len(receiver.tried()) >= 2), "retries")
                    lease = keys.delivery_lease(platform_id)
                    held_for = LEASE_SECONDS / 3 + 1.5
                    await h.redis.set(lease, "another process", px=int(held_for * 1000))
                    stolen = time.monotonic()
                    # The theft is noticed at the next renewal, within a third of the lease.
                    await asyncio.sleep(LEASE_SECONDS / 3 + 0.3)
                    tried = len(receiver.arrived)
                    await asyncio.sleep(held_for - (time.monotonic() - stolen) - 0.3)
                    assert len(receiver.arrived) == tried, "it sent without the lease"
                    assert await h.queue.holder(platform_id) == "another process"
                    receiver.down = False
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "the delivery")
                    assert await h.queue.holder(platform_id) == h.deliverer.consumer
                assert receiver.paths() == ["/ocpi/2.2.1/locations/NL/CPO/L1"]

    asyncio.run(scenario())
