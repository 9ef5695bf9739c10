"""Many platforms per Redis round trip: the platforms taken together are read in one pipeline
and let go in one, each still with its own outcome; what a dead process left pending is claimed
in the same read and delivered first; and all of it on a Redis Cluster too."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import msgspec
import pytest

from hub.delivery.messages import GROUP, Message
from hub.delivery.queue import LetGo
from hub.delivery.reading import Wanted
from hub.store import keys
from tests import redisstats
from tests.cluster import redis_cluster
from tests.delivery.harness import Hub, Receiver, hub, location, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}


def change(location_id: str, n: int) -> Message:
    """Change number ``n`` of a location: a PATCH (changes of one object keep their order)."""
    return msgspec.structs.replace(
        location(location_id),
        method="PATCH",
        full_state=False,
        body=msgspec.Raw(json.dumps({"n": n}).encode()),
    )


def changes(receiver: Receiver) -> list[int]:
    return [r.body["n"] for r in receiver.received if r.method == "PATCH"]


async def platforms(h: Hub, stack: ExitStack, count: int) -> tuple[list[str], list[Receiver]]:
    receivers = [stack.enter_context(Receiver()) for _ in range(count)]
    ids = [await h.add_platform(f"E{i:03}", r) for i, r in enumerate(receivers)]
    return ids, receivers


async def settled(h: Hub, platform_ids: list[str]) -> bool:
    """Every message delivered and acknowledged, no platform held or due (one round trip)."""
    async with h.redis.pipeline(transaction=False) as pipe:
        for platform_id in platform_ids:
            pipe.xlen(keys.queue(platform_id))
        pipe.hlen(keys.delivery_holders())
        pipe.zcard(keys.delivery_due())
        *depths, held, due = await pipe.execute()
    return not any(depths) and held == 0 and due == 0


def test_a_broadcast_is_read_and_let_go_in_a_few_round_trips(redis_url: str) -> None:
    """64 platforms with one message each (a broadcast): each used to cost its own round trips
    (read; acknowledge and finish the hold, after SCRIPT EXISTS); now the platforms taken
    together are read in one, and let go in two. Redis counts its reads from the connections:
    about one per round trip, whoever made it."""
    count = 64

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with ExitStack() as stack:
                ids, receivers = await platforms(h, stack, count)
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, h.deliverer.delivering), "started")
                    await asyncio.sleep(0.3)  # what the start does, done
                    redisstats.reset(redis_url)
                    polls = 0

                    async def delivered() -> bool:
                        nonlocal polls
                        polls += 1
                        return await settled(h, ids)

                    await h.queue.put([(p, location("L1")) for p in ids])
                    await until(delivered, "the broadcast delivered and let go")
                    # Less the polls, and the connection of the counting (about 4).
                    reads = redisstats.reads(redis_url) - polls
                    calls = redisstats.calls(redis_url)
                assert [r.paths() for r in receivers] == [
                    ["/ocpi/2.2.1/locations/NL/CPO/L1"]
                ] * count
        # The bulk read: one XREADGROUP for the platforms taken together (one per platform
        # before). Reads from the connections: queueing (2), taking, reading (1 per take),
        # letting go (2 per batch of let-gos), the pool's new connections, and the background
        # loops' polls while it runs (a slow machine makes more of them: 104 were seen under
        # load, 24 on a quiet one); per-platform round trips made 157 (2-3 per platform).
        assert calls.get("xreadgroup", 0) <= 8, (reads, calls)
        assert reads < 2 * count, (reads, calls)
        # No SCRIPT EXISTS before each pipeline: only the loads of scripts never run before.
        assert sum(n for name, n in calls.items() if name.startswith("script")) <= 2, calls

    asyncio.run(scenario())


def test_one_platform_whose_let_go_fails_leaves_the_others_let_go(redis_url: str) -> None:
    """Three platforms let go together; the acknowledgement of one fails (its index of newest
    states is not a hash: Redis refuses the script): it learns why and keeps its hold (which
    expires); the other two are acknowledged and no longer held."""

    async def scenario() -> None:
        async with hub(redis_url) as h:
            ids = ["pa", "pb", "pc"]
            await h.queue.put([(p, location("L1")) for p in ids])
            taken = await h.queue.schedule.take("me", 10.0, 10)
            assert sorted(held.platform_id for held in taken.held) == ids
            read = await h.queue.batches("me", [Wanted(p, True, True) for p in ids], 100)
            batches = [found for found in read if not isinstance(found, Exception)]
            assert [len(entries) for entries, _ in batches] == [1, 1, 1]
            await h.redis.delete(keys.queue_latest("pb"))
            await h.redis.set(keys.queue_latest("pb"), "not a hash")
            let_gos = [
                LetGo(p, entries, None, 0, True)
                for p, (entries, _) in zip(ids, batches, strict=True)
            ]
            outcome = await h.queue.settle("me", let_gos)
            assert outcome[0] is None and outcome[2] is None
            assert outcome[1] is not None and "WRONGTYPE" in outcome[1].message
            for platform_id in ("pa", "pc"):
                assert await h.redis.xlen(keys.queue(platform_id)) == 0
                assert (await h.redis.xpending(keys.queue(platform_id), GROUP))["pending"] == 0
            assert await h.queue.schedule.holders(ids) == {"pb": "me"}

    asyncio.run(scenario())


def test_scripts_redis_forgot_are_loaded_again(redis_url: str) -> None:
    """Redis forgets its scripts when it restarts (here: SCRIPT FLUSH): queueing, reading and
    letting go, all pipelined, load them again and go on."""

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with ExitStack() as stack:
                ids, receivers = await platforms(h, stack, 3)
                async with running(h.deliverer):
                    for n in range(3):
                        await h.redis.script_flush()
                        await h.queue.put([(p, change("L1", n)) for p in ids])

                        async def delivered(n: int = n) -> bool:
                            return all(changes(r) == list(range(n + 1)) for r in receivers)

                        await until(delivered, f"change {n}")
                    await until(lambda: settled(h, ids), "all let go")

    asyncio.run(scenario())


def test_what_dead_processes_left_pending_is_claimed_in_the_read_and_sent_first(
    redis_url: str,
) -> None:
    """Ten platforms whose changes a process read and never acknowledged (it died), with more
    queued since; one of them with more left pending than one claim takes. The next process
    claims them in its read of all ten, and each receiver gets every change once, in order."""

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with ExitStack() as stack:
                ids, receivers = await platforms(h, stack, 10)
                for i, platform_id in enumerate(ids):
                    left = 150 if i == 0 else 3  # the first: more than a batch of 100
                    await h.queue.put([(platform_id, change("L1", n)) for n in range(left)])
                    stream = keys.queue(platform_id)
                    await h.redis.xreadgroup(GROUP, "gone", {stream: ">"}, count=1000)
                    await h.queue.put(
                        [(platform_id, change("L1", n)) for n in range(left, left + 2)]
                    )
                redisstats.reset(redis_url)
                async with running(h.deliverer):

                    async def everything() -> bool:
                        return await settled(h, ids)

                    await until(everything, "every change delivered")
                calls = redisstats.calls(redis_url)
                assert changes(receivers[0]) == list(range(152))
                assert [changes(r) for r in receivers[1:]] == [list(range(5))] * 9
        # One claim each in the read; the platform with 150 left claims them all again (two
        # claims of 100), then its batches follow.
        assert calls["xautoclaim"] <= 10 + 2

    asyncio.run(scenario())


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    with redis_cluster(tmp_path / "cluster") as url:
        yield url


def test_a_broadcast_is_delivered_on_a_redis_cluster(cluster: str) -> None:
    """The queues of the platforms are on all three nodes (each platform's keys in its own
    slot), the schedule on one: a broadcast is queued, read, delivered and acknowledged, and a
    queue read by a process that died is taken over."""

    async def scenario() -> None:
        async with hub(cluster, redis_cluster=True, **FAST) as h:
            with ExitStack() as stack:
                ids, receivers = await platforms(h, stack, 12)
                await h.queue.put([(p, change("L1", 0)) for p in ids])
                await h.redis.xreadgroup(GROUP, "gone", {keys.queue(ids[0]): ">"}, count=10)
                await h.queue.put([(p, change("L1", 1)) for p in ids])
                async with running(h.deliverer):

                    async def everything() -> bool:
                        return await settled(h, ids)

                    await until(everything, "the broadcast delivered")
                assert [changes(r) for r in receivers] == [[0, 1]] * 12

    asyncio.run(scenario())
