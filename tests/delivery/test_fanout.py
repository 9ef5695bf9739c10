"""A broadcast push is recorded once and queued for its receivers by one process at a time,
in the order pushes came (hub.fanout), against a real redis-server of the test's own."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec

from hub.bridge import Bridge
from hub.broadcast import Broadcast
from hub.delivery.queue import Queue
from hub.fanout import FanOut, receivers_of
from hub.ocpi.lanes import LANES
from hub.policy import Policy
from hub.records import Party
from hub.routing import PlatformEntry, RoutingTable
from hub.settings import Settings
from hub.store import keys
from hub.store.connection import open_redis
from hub.store.contracts import Contracts, ReservationNumbers
from hub.store.directory import Directory
from hub.store.fanouts import Fanouts, Pushed, Written
from hub.store.held import HeldObjects
from hub.store.kept import KeptRecords
from tests.delivery.harness import until
from tests.e2e.objects import location
from tests.test_routing import peer, table

CPO = Party("NL", "CPO", "CPO")
HUB = ("NL", "HUB")


def pushed(location_id: str, n: int, *, method: str = "PUT") -> Pushed:
    body = msgspec.Raw(msgspec.json.encode({"id": location_id, "n": n}))
    return Pushed(
        module="locations",
        segments=["NL", "CPO", location_id],
        caller_id="cpo",
        owner=("NL", "CPO"),
        correlation_id=f"c-{n}",
        enqueued_at=time.time(),
        written=[
            Written("2.2.1", False, method, "", body),
            Written("2.1.1", False, method, "", msgspec.Raw(b'{"v211": true}')),
            Written("2.1.1", True, method, "", msgspec.Raw(b'{"v211": true}')),
        ],
    )


def network(emsps: int) -> RoutingTable:
    peers = [peer("cpo", CPO, modules=["locations"])]
    peers += [
        peer(f"e{i}", Party("NL", f"E{i:02}", "EMSP"), modules=["locations"]) for i in range(emsps)
    ]
    return table(*peers)


def test_each_receiver_gets_the_push_in_its_version_and_the_sender_none() -> None:
    peers: list[PlatformEntry] = [
        peer("cpo", CPO, modules=["locations"]),
        peer("e221", Party("NL", "EMA", "EMSP"), modules=["locations"]),
        peer("e211", Party("NL", "EMB", "EMSP"), modules=["locations"], version="2.1.1"),
        # A version the push was not written in (registered since): skipped.
        peer("e230", Party("NL", "EMC", "EMSP"), modules=["locations"], version="2.3.0"),
        peer("none", Party("NL", "EMD", "EMSP"), modules=["tariffs"]),  # no locations endpoint
        peer("other", Party("NL", "CPX", "CPO"), modules=["locations"]),  # the same side
    ]
    items = receivers_of(pushed("L1", 1), table(*peers), Policy(), HUB)
    found = {platform_id: message for platform_id, message in items}
    assert sorted(found) == ["e211", "e221"]
    assert bytes(found["e221"].body) == b'{"id":"L1","n":1}'
    assert bytes(found["e211"].body) == b'{"v211": true}'
    message = found["e221"]
    assert (message.sender, message.receiver, message.owner) == (HUB, ("NL", "EMA"), ("NL", "CPO"))
    assert (message.object, message.path, message.full_state) == (
        "locations:NL/CPO/L1",
        "NL/CPO/L1",
        True,
    )


def test_pushes_are_queued_in_order_once_a_dead_leader_lets_go(redis_url: str) -> None:
    """A process that led and died holds the lead until it expires; then another queues every
    recorded push, in the order they came, for every receiver, and deletes the records."""

    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        fanouts, queue = Fanouts(redis), Queue(redis)
        routes = network(3)

        async def tables() -> tuple[RoutingTable, Policy]:
            return routes, Policy()

        try:
            await redis.set(keys.fanout_leader(), "a process that died", px=1500)
            for n, method in enumerate(["PUT", "PATCH", "PATCH", "PUT", "PATCH"]):
                await fanouts.record(pushed("L1", n, method=method))
            leader = FanOut(fanouts, queue, tables, lambda: None, HUB)
            task = asyncio.create_task(leader.run())
            started = time.monotonic()
            try:
                await until(lambda: _backlog_is(fanouts, 0), "every push queued")
                waited = time.monotonic() - started
                assert await redis.get(keys.fanout_leader()) == leader.consumer.encode()
            finally:
                task.cancel()
                await asyncio.wait({task}, timeout=10)
            assert waited >= 1.0, "it queued while another process led"
            for i in range(3):
                entries: Any = await redis.xrange(keys.queue(f"e{i}"))
                numbers = [msgspec.json.decode(e[1][b"m"])["body"]["n"] for e in entries]
                assert numbers == [0, 1, 2, 3, 4]
            # It handed the lead back when it stopped.
            assert await redis.get(keys.fanout_leader()) is None
        finally:
            await redis.aclose()

    asyncio.run(scenario())


def test_the_senders_request_costs_the_same_whatever_the_receivers(redis_url: str) -> None:
    """A broadcast push is kept (for GET-all) and recorded once, however many receivers: the
    queueing for each is the leader's, after the answer."""

    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        held, kept = HeldObjects(redis), KeptRecords(redis, retention=3600)
        bridge = Bridge(held, Contracts(redis), ReservationNumbers(redis), kept, Directory(redis))
        fanouts = Fanouts(redis)
        broadcast = Broadcast(Settings(redis_url=redis_url), held, kept, fanouts, bridge)
        lane = LANES[("locations", "RECEIVER")]
        body = msgspec.json.encode(location(("NL", "CPO"), "L1"))
        try:
            costs = []
            for emsps in (10, 10, 2000):  # the first loads the scripts
                before = await _commands(redis)
                status, _, _ = await broadcast.push(
                    network(emsps),
                    Policy(),
                    lane,
                    CPO,
                    "cpo",
                    "PUT",
                    ["NL", "CPO", "L1"],
                    "",
                    body,
                    "c-1",
                )
                costs.append(await _commands(redis) - before)
                assert status == 200
            assert costs[1] == costs[2] < 20
            assert await fanouts.backlog() == 3
            assert await redis.exists(keys.queue("e0")) == 0  # queued by the leader only
        finally:
            await redis.aclose()

    asyncio.run(scenario())


async def _backlog_is(fanouts: Fanouts, count: int) -> bool:
    return await fanouts.backlog() == count


async def _commands(redis: Any) -> int:
    return int((await redis.info("stats"))["total_commands_processed"])


def test_a_receiver_never_gets_a_push_again_or_after_a_later_one(redis_url: str) -> None:
    """Pushes reach a queue in the order recorded: a leader that takes over queues again the
    push its predecessor had begun (receivers that have it do not get it twice), and a write of
    a former leader that comes late (Redis was away a moment) cannot land behind a later push."""

    async def scenario() -> None:
        redis = open_redis(redis_url, cluster=False)
        queue = Queue(redis)
        items = list(receivers_of(pushed("L1", 1), network(2), Policy(), HUB))
        try:
            assert all(await queue.put(items[:1], push="1700000000000-3"))  # e0 only
            # The next leader queues the same push for both: e0 has it already.
            ids = await queue.put(items, push="1700000000000-3")
            assert (ids[0], bool(ids[1])) == ("", True)
            await queue.put(items, push="1700000000001-0")
            # A former leader's write of an earlier push, late: dropped.
            assert await queue.put(items, push="1700000000000-9") == ["", ""]
            # Messages that are no broadcast push (HubClientInfo, ...) are always queued.
            assert all(await queue.put(items))
            assert [await redis.xlen(keys.queue(p)) for p in ("e0", "e1")] == [3, 3]
        finally:
            await redis.aclose()

    asyncio.run(scenario())
