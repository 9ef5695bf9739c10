"""A platform's queue is delivered in order, once; a newer full state of an object makes the
older messages of that object moot (coalescing); what a process that died left pending is
taken over by the next, in order."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import msgspec

from hub.delivery.lanes import LANES
from hub.delivery.messages import GROUP, Message
from hub.store import keys
from tests.delivery.harness import Received, Receiver, hub, location, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}


def put(location_id: str, version: str) -> Message:
    """A full state of the location (a PUT)."""
    body = json.dumps({"id": location_id, "version": version}).encode()
    return msgspec.structs.replace(location(location_id), body=msgspec.Raw(body))


def patch(location_id: str, version: str) -> Message:
    """A change of the location (a PATCH): it makes nothing moot."""
    body = json.dumps({"version": version}).encode()
    return msgspec.structs.replace(
        location(location_id), method="PATCH", full_state=False, body=msgspec.Raw(body)
    )


def seen(receiver: Receiver) -> list[tuple[str, str, Any]]:
    """The locations it took: method, id, version (keep-alives left out)."""
    taken = [r for r in receiver.received if r.path.startswith("/ocpi/2.2.1/locations/")]
    return [(r.method, r.path.rsplit("/", 1)[1], r.body["version"]) for r in taken]


def per_object(calls: list[tuple[str, str, Any]]) -> dict[str, list[tuple[str, Any]]]:
    """The calls of each location, in the order it took them (the order that is kept: calls
    of different objects may be sent at the same time)."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for method, location_id, version in calls:
        found.setdefault(location_id, []).append((method, version))
    return found


def test_a_newer_full_state_makes_the_older_messages_of_its_object_moot(redis_url: str) -> None:
    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver() as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                queued = [
                    put("L1", "v1"),
                    patch("L1", "p1"),
                    put("L2", "a"),
                    put("L1", "v2"),
                    patch("L1", "p2"),
                    patch("L2", "b"),
                    patch("L3", "only"),  # no full state of L3 is queued
                ]
                await h.queue.put([(platform_id, m) for m in queued])
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 5), "five")
                    await asyncio.sleep(0.3)  # nothing else comes
                    stats = await h.queue.stats(platform_id)
                # L1's first state and the patch on it are stale: v2 replaces both. L2's
                # messages, and the patch on v2, are delivered as they were queued.
                assert per_object(seen(receiver)) == {
                    "L1": [("PUT", "v2"), ("PATCH", "p2")],
                    "L2": [("PUT", "a"), ("PATCH", "b")],
                    "L3": [("PATCH", "only")],
                }
                assert (stats.depth, stats.dead_letters) == (0, 0)
                assert await h.redis.hlen(keys.queue_latest(platform_id)) == 0

    asyncio.run(scenario())


def test_a_message_retried_while_a_newer_state_is_queued_is_dropped(redis_url: str) -> None:
    """The newer state came after the batch was read: it is asked again after every wait."""

    async def scenario() -> None:
        async with hub(redis_url, offline_after=1000, **FAST) as h:
            with Receiver() as receiver:
                receiver.down = True
                platform_id = await h.add_platform("EMA", receiver)
                await h.queue.put([(platform_id, put("L1", "v1"))])
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, receiver.tried()), "a first attempt")
                    await h.queue.put([(platform_id, put("L1", "v2"))])
                    # One more refused attempt first: an attempt of v1 already under way when
                    # v2 was queued (a slow machine) is answered 503 too, and any later one
                    # asks again after its wait and finds v2.
                    before = len(receiver.tried())
                    await until(
                        lambda: asyncio.sleep(0, len(receiver.tried()) > before),
                        "an attempt after v2 was queued",
                    )
                    receiver.down = False
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "a delivery")
                    await asyncio.sleep(0.3)  # nothing else comes
                assert seen(receiver) == [("PUT", "L1", "v2")]
                assert (await h.queue.stats(platform_id)).depth == 0

    asyncio.run(scenario())


def test_what_a_dead_process_left_pending_comes_first_and_in_order(redis_url: str) -> None:
    """A process read 150 messages (more than one claim or one batch takes) and died; the next
    process delivers them and what was queued since, each once. One of them it had already
    delivered and deleted, but not acknowledged: it is not sent again."""

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver() as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                stream = keys.queue(platform_id)
                await h.push(platform_id, *(f"L{i:03}" for i in range(150)))
                read: Any = await h.redis.xreadgroup(GROUP, "gone", {stream: ">"}, count=1000)
                ids: list[bytes] = [entry_id for entry_id, _ in read[0][1]]
                assert len(ids) == 150
                await h.redis.xdel(stream, ids[7])
                await h.push(platform_id, *(f"L{i:03}" for i in range(150, 160)))
                async with running(h.deliverer):
                    await until(
                        lambda: asyncio.sleep(0, len(receiver.paths()) >= 159), "everything"
                    )
                    await asyncio.sleep(0.3)  # nothing else comes
                    pending = await h.redis.xpending(stream, GROUP)
                expected = [f"L{i:03}" for i in range(160) if i != 7]
                assert sorted(path.rsplit("/", 1)[1] for path in receiver.paths()) == expected
                assert pending["pending"] == 0
                assert (await h.queue.stats(platform_id)).depth == 0

    asyncio.run(scenario())


def test_one_receiver_gets_several_objects_at_once_and_each_object_in_order(
    redis_url: str,
) -> None:
    """A busy queue drains over several connections at once (``LANES``), partitioned by
    top-level object: an EVSE's PATCH stays behind its location's PUT, never beside it."""

    in_flight, most = 0, 0
    lock = threading.Lock()

    def slow(call: Received) -> None:  # takes it, after a moment
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        time.sleep(0.02)
        with lock:
            in_flight -= 1

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver(slow) as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                queued = []
                for n in range(3):
                    for i in range(8):
                        queued.append(put(f"L{i}", f"v{n}") if n == 0 else evse_patch(f"L{i}", n))
                await h.queue.put([(platform_id, m) for m in queued])
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, len(receiver.received) >= 24), "all")
        by_location: dict[str, list[str]] = {}
        for r in receiver.received:
            if r.path.startswith("/ocpi/2.2.1/locations/"):
                by_location.setdefault(r.path.split("/")[6], []).append(r.method)
        assert by_location == {f"L{i}": ["PUT", "PATCH", "PATCH"] for i in range(8)}
        assert 1 < most <= LANES

    asyncio.run(scenario())


def evse_patch(location_id: str, n: int) -> Message:
    """A change of the location's EVSE (an object of its own, below the location)."""
    body = json.dumps({"version": n}).encode()
    return msgspec.structs.replace(
        location(location_id),
        method="PATCH",
        path=f"NL/CPO/{location_id}/E1",
        object=f"locations:NL/CPO/{location_id}/E1",
        full_state=False,
        body=msgspec.Raw(body),
    )


def test_a_lane_that_fails_ends_its_batch_only_once_the_other_lanes_are_done(
    redis_url: str,
) -> None:
    """Four objects in four lanes; the receiver refuses L1 for good, and parking it fails
    (Redis refuses: its dead letters are not a stream). The calls of L2 to L4 under way at that
    moment end and are acknowledged with the batch: none goes on after the platform was let go,
    and none is sent again when the platform is taken again after its backoff."""

    def reply(call: Received) -> tuple[int, bytes] | None:
        if call.path.endswith("/L1"):
            return 400, b"{}"
        time.sleep(0.5)  # still under way when L1 fails
        return None

    async def scenario() -> None:
        async with hub(redis_url, **FAST) as h:
            with Receiver(reply) as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                await h.redis.set(keys.dead_letters(platform_id), "not a stream")
                await h.push(platform_id, "L1", "L2", "L3", "L4")
                async with running(h.deliverer):
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 3), "L2-L4")
                    # L1 is tried again and again (after backoffs); L2 to L4 are not.
                    await until(
                        lambda: asyncio.sleep(0, receiver.tried().count(_path("L1")) >= 4),
                        "L1 tried again",
                    )
                assert sorted(receiver.paths()) == [_path(i) for i in ("L2", "L3", "L4")]

    asyncio.run(scenario())


def _path(location_id: str) -> str:
    return f"/ocpi/2.2.1/locations/NL/CPO/{location_id}"
