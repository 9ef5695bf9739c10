"""KeptRecords (the sessions and CDRs the hub delivered, kept for their eMSP, and the ones it
could not route) against a real redis-server of the module's own (tests/store/conftest.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from hub.errors import InvalidParametersError, NotJsonError
from hub.store import keys
from hub.store.connection import RedisClient
from hub.store.kept import KeptRecords, merge_session, unrouted_id
from tests.cluster import redis_cluster
from tests.store.scenario import run

CPA, CPB = ("NL", "CPA"), ("DE", "CPB")
EMA, EMB = ("NL", "EMA"), ("BE", "EMB")
DAY = 24 * 3600.0


class Clock:
    """The store's clock, moved by the test (retention without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def stamp(minute: int) -> str:
    return f"2026-03-01T10:{minute:02d}:00Z"


def session(cpo: tuple[str, str], sid: str, minute: int, **extra: Any) -> bytes:
    """Pretty-printed on purpose: what is kept whole must come back byte for byte."""
    body = {
        "country_code": cpo[0],
        "party_id": cpo[1],
        "id": sid,
        "start_date_time": stamp(0),
        "kwh": 0,
        "status": "ACTIVE",
        "last_updated": stamp(minute),
        **extra,
    }
    return json.dumps(body, indent=1).encode()


def cdr(cpo: tuple[str, str], cid: str, minute: int) -> bytes:
    return orjson.dumps(
        {"country_code": cpo[0], "party_id": cpo[1], "id": cid, "last_updated": stamp(minute)}
    )


def ids(objects: list[bytes]) -> list[str]:
    return [orjson.loads(o)["id"] for o in objects]


def period(minute: int, kwh: float) -> dict[str, Any]:
    return {
        "start_date_time": stamp(minute),
        "dimensions": [{"type": "ENERGY", "volume": kwh}],
    }


Scenario = Callable[[KeptRecords, Clock, RedisClient], Awaitable[None]]


def scenario(url: str, body: Scenario, *, retention: float = 90 * DAY) -> None:
    clock = Clock()

    async def main(redis: Redis) -> None:
        await body(KeptRecords(redis, retention=retention, clock=clock), clock, redis)

    run(url, main)


# --- keep, get, page ---------------------------------------------------------------------


def test_kept_objects_come_back_as_kept_to_their_emsp_only(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        body = session(CPA, "s-1", 1)
        await kept.keep("sessions", EMA, CPA, "s-1", body)
        assert await kept.get("sessions", EMA, CPA, "s-1") == body
        # CiStrings: the parties and the id in any case.
        assert await kept.get("sessions", ("nl", "ema"), ("nl", "cpa"), "S-1") == body
        assert await kept.get("sessions", EMB, CPA, "s-1") is None
        assert await kept.get("sessions", EMA, CPB, "s-1") is None
        assert await kept.get("cdrs", EMA, CPA, "s-1") is None
        assert await kept.page(
            "sessions", EMB, date_from=None, date_to=None, offset=0, limit=10
        ) == ([], 0)

        replaced = session(CPA, "s-1", 2, kwh=4.0)
        await kept.keep("sessions", EMA, CPA, "s-1", replaced)
        assert await kept.page(
            "sessions", EMA, date_from=None, date_to=None, offset=0, limit=10
        ) == ([replaced], 1)

    scenario(url, main)


def test_a_page_is_ordered_by_last_updated_and_filtered_by_date(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        # Kept out of order, by two CPOs; two CDRs with one last_updated (ties: CPO, then id).
        for cpo, cid, minute in [
            (CPA, "C-3", 3),
            (CPB, "C-1", 1),
            (CPA, "C-2B", 2),
            (CPA, "C-2A", 2),
            (CPB, "C-4", 4),
        ]:
            await kept.keep("cdrs", EMA, cpo, cid, cdr(cpo, cid, minute))
        await kept.keep("cdrs", EMB, CPA, "C-OTHER", cdr(CPA, "C-OTHER", 2))

        def page(**given: Any) -> Awaitable[tuple[list[bytes], int]]:
            args: dict[str, Any] = {"date_from": None, "date_to": None, "offset": 0, "limit": 10}
            return kept.page("cdrs", EMA, **{**args, **given})

        objects, total = await page()
        assert (ids(objects), total) == (["C-1", "C-2A", "C-2B", "C-3", "C-4"], 5)
        # date_from inclusive, date_to exclusive (2.2.1 "Transport and format", Pagination).
        objects, total = await page(date_from=stamp(2), date_to=stamp(4))
        assert (ids(objects), total) == (["C-2A", "C-2B", "C-3"], 3)
        objects, total = await page(date_from=stamp(2), date_to=stamp(4), offset=1, limit=1)
        assert (ids(objects), total) == (["C-2B"], 3)
        objects, total = await page(date_from=stamp(2), offset=3, limit=5)
        assert (ids(objects), total) == (["C-4"], 4)
        assert await page(date_from=stamp(5)) == ([], 0)
        assert await page(offset=9) == ([], 5)
        assert await page(limit=0) == ([], 5)
        with pytest.raises(InvalidParametersError, match="date_from"):
            await page(date_from="yesterday")

    scenario(url, main)


def test_a_session_patch_replaces_fields_and_appends_charging_periods(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        first = session(CPA, "S-P", 1, charging_periods=[period(0, 1.0)])
        await kept.keep("sessions", EMA, CPA, "S-P", first)
        fragment = {"kwh": 3.5, "charging_periods": [period(5, 2.5)], "last_updated": stamp(9)}
        assert await kept.patch("sessions", EMA, CPA, "s-p", orjson.dumps(fragment))
        got = orjson.loads(await kept.get("sessions", EMA, CPA, "S-P") or b"")
        assert got["kwh"] == 3.5 and got["status"] == "ACTIVE"
        assert got["charging_periods"] == [period(0, 1.0), period(5, 2.5)]
        assert got["last_updated"] == stamp(9)
        # The index moved with last_updated.
        objects, _ = await kept.page(
            "sessions", EMA, date_from=stamp(9), date_to=None, offset=0, limit=10
        )
        assert ids(objects) == ["S-P"]
        # Nothing kept: nothing patched, nothing made up.
        assert not await kept.patch("sessions", EMB, CPA, "S-P", orjson.dumps(fragment))
        assert await kept.get("sessions", EMB, CPA, "S-P") is None

    scenario(url, main)


def test_merge_session() -> None:
    kept = {"kwh": 1, "charging_periods": [1], "status": "ACTIVE"}
    assert merge_session(kept, {"status": "COMPLETED"}) == {**kept, "status": "COMPLETED"}
    assert merge_session(kept, {"charging_periods": [2]})["charging_periods"] == [1, 2]
    # No periods kept yet: the PATCH's are the first.
    assert merge_session({"kwh": 1}, {"charging_periods": [2]})["charging_periods"] == [2]
    assert kept == {"kwh": 1, "charging_periods": [1], "status": "ACTIVE"}  # not changed


def test_concurrent_patches_all_land(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        await kept.keep("sessions", EMA, CPA, "S-C", session(CPA, "S-C", 1, charging_periods=[]))
        # A second store on another connection stands for another hub process.
        other_client = Redis.from_url(url)
        try:
            other = KeptRecords(other_client, retention=90 * DAY, clock=clock)
            patches = [
                (kept if i % 2 else other).patch(
                    "sessions",
                    EMA,
                    CPA,
                    "S-C",
                    orjson.dumps({"charging_periods": [period(i, i)], "last_updated": stamp(i)}),
                )
                for i in range(20)
            ]
            assert all(await asyncio.gather(*patches))
        finally:
            await other_client.aclose()
        got = orjson.loads(await kept.get("sessions", EMA, CPA, "S-C") or b"")
        assert sorted(p["start_date_time"] for p in got["charging_periods"]) == [
            stamp(i) for i in range(20)
        ]

    scenario(url, main)


def test_what_cannot_be_kept_is_refused(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        with pytest.raises(InvalidParametersError, match="last_updated is required"):
            await kept.keep("cdrs", EMA, CPA, "C", b'{"id": "C"}')
        with pytest.raises(InvalidParametersError, match="last_updated"):
            await kept.keep("cdrs", EMA, CPA, "C", b'{"id": "C", "last_updated": "today"}')
        with pytest.raises(NotJsonError):
            await kept.keep("cdrs", EMA, CPA, "C", b"{not json")
        with pytest.raises(InvalidParametersError):
            await kept.keep("cdrs", EMA, CPA, "C", b"[]")
        await kept.keep("sessions", EMA, CPA, "S", session(CPA, "S", 1))
        with pytest.raises(InvalidParametersError, match="JSON object"):
            await kept.patch("sessions", EMA, CPA, "S", b"[1]")
        with pytest.raises(ValueError, match="never patched"):
            await kept.patch("cdrs", EMA, CPA, "C", b"{}")
        with pytest.raises(ValueError, match="keeps no tariffs"):
            await kept.keep("tariffs", EMA, CPA, "T", b"{}")
        assert await redis.hlen(keys.kept_records("cdrs", EMA)) == 0

    scenario(url, main)


# --- retention ---------------------------------------------------------------------------


def test_records_past_the_retention_are_gone(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        await kept.keep("cdrs", EMA, CPA, "C-OLD", cdr(CPA, "C-OLD", 1))
        await kept.keep("sessions", EMA, CPA, "S-OLD", session(CPA, "S-OLD", 1))
        clock.now += 2 * DAY
        await kept.keep("cdrs", EMA, CPA, "C-NEW", cdr(CPA, "C-NEW", 2))
        clock.now += 1 * DAY  # C-OLD is 3 days old, C-NEW 1 day

        # Read before any write pruned it: gone all the same.
        assert await kept.get("cdrs", EMA, CPA, "C-OLD") is None
        assert not await kept.patch("sessions", EMA, CPA, "S-OLD", b'{"kwh": 1}')
        objects, total = await kept.page(
            "cdrs", EMA, date_from=None, date_to=None, offset=0, limit=10
        )
        assert (ids(objects), total) == (["C-NEW"], 1)
        # The page pruned the old record from Redis, not only from the answer.
        assert await redis.hkeys(keys.kept_records("cdrs", EMA)) == [b"NL:CPA:C-NEW"]
        assert await redis.zcard(keys.kept_index("cdrs", EMA)) == 1
        assert await redis.zcard(keys.kept_times("cdrs", EMA)) == 1
        # Keeping an object again starts its retention again.
        await kept.keep("cdrs", EMA, CPA, "C-NEW", cdr(CPA, "C-NEW", 3))
        clock.now += 1.5 * DAY
        assert await kept.get("cdrs", EMA, CPA, "C-NEW") is not None

    scenario(url, main, retention=2 * DAY)


def test_every_key_expires_with_the_retention_of_its_last_write(url: str) -> None:
    """An eMSP nobody writes to or reads from costs nothing: its keys expire in Redis."""

    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        await kept.keep("cdrs", EMA, CPA, "C-1", cdr(CPA, "C-1", 1))
        await kept.park("cdrs", CPA, "C-LOST", cdr(CPA, "C-LOST", 1), "no eMSP for token X")
        names = [
            keys.kept_records("cdrs", EMA),
            keys.kept_index("cdrs", EMA),
            keys.kept_times("cdrs", EMA),
            keys.unrouted_records(),
            keys.unrouted_times(),
        ]
        for name in names:
            assert 0 < await redis.pttl(name) <= 2 * DAY * 1000, name
        # A real, short retention: the keys are gone without any call of the hub.
        short = KeptRecords(redis, retention=0.2)
        await short.keep("cdrs", EMB, CPA, "C-2", cdr(CPA, "C-2", 1))
        assert await redis.exists(keys.kept_records("cdrs", EMB)) == 1
        await asyncio.sleep(0.4)
        assert await redis.exists(*(n.replace("EMA", "EMB") for n in names[:3])) == 0

    scenario(url, main, retention=2 * DAY)


# --- unrouted ----------------------------------------------------------------------------


def test_parked_objects_are_listed_and_replaced_by_a_later_state(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        first = await kept.park("cdrs", CPA, "C-1", cdr(CPA, "C-1", 1), "no eMSP for token A")
        clock.now += 60
        await kept.park("sessions", CPB, "S-1", session(CPB, "S-1", 1), "no eMSP for token B")
        clock.now += 60
        newer = session(CPB, "S-1", 2, kwh=9.0)
        again = await kept.park("sessions", CPB, "s-1", newer, "still no eMSP for token B")

        found, total = await kept.unrouted(0, 10)
        assert total == 2
        assert [p.id for p in found] == [first.id, again.id]
        assert found[0].module == "cdrs" and found[0].cpo == CPA and found[0].object_id == "C-1"
        assert found[0].reason == "no eMSP for token A"
        assert bytes(found[0].body) == cdr(CPA, "C-1", 1)
        assert found[1].reason == "still no eMSP for token B" and bytes(found[1].body) == newer
        assert found[0].kept_at < found[1].kept_at
        assert again.id == unrouted_id("sessions", ("de", "cpb"), "S-1")
        assert (await kept.unrouted(1, 1))[0] == [found[1]]
        assert await kept.unrouted(2, 5) == ([], 2)
        assert await kept.unrouted_count() == 2
        assert await kept.parked(first.id) == found[0]
        assert await kept.parked("0" * 16) is None

        with pytest.raises(InvalidParametersError):
            await kept.park("cdrs", CPA, "C-2", b"[]", "bad")

        # Parked ones are under the retention too.
        clock.now += 90 * DAY - 90
        assert [p.id for p in (await kept.unrouted(0, 10))[0]] == [again.id]
        assert await kept.unrouted_count() == 1
        assert await kept.parked(first.id) is None
        assert await redis.hlen(keys.unrouted_records()) == 1

    scenario(url, main)


def test_an_assigned_object_becomes_the_emsps(url: str) -> None:
    async def main(kept: KeptRecords, clock: Clock, redis: RedisClient) -> None:
        body = cdr(CPA, "C-A", 1)
        parked = await kept.park("cdrs", CPA, "C-A", body, "no eMSP for token A")
        assigned = await kept.assign(parked.id, EMB)
        assert assigned is not None and assigned.object_id == "C-A"
        assert await kept.get("cdrs", EMB, CPA, "C-A") == body
        assert await kept.unrouted(0, 10) == ([], 0)
        assert await kept.assign(parked.id, EMB) is None
        # Kept as of the assignment: the eMSP has the whole retention to pull it.
        clock.now += 90 * DAY - 1
        assert await kept.get("cdrs", EMB, CPA, "C-A") == body

    scenario(url, main, retention=90 * DAY)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A one-node Redis Cluster: a cluster refuses commands and scripts across slots."""
    with redis_cluster(tmp_path / "cluster", nodes=1) as found:
        yield found


def test_works_on_redis_cluster(cluster: str) -> None:
    async def main() -> None:
        client = RedisCluster.from_url(cluster)
        try:
            kept = KeptRecords(client, retention=DAY)
            await kept.keep("sessions", EMA, CPA, "S", session(CPA, "S", 1))
            assert await kept.patch(
                "sessions", EMA, CPA, "S", orjson.dumps({"last_updated": stamp(2)})
            )
            await kept.keep("cdrs", EMA, CPA, "C", cdr(CPA, "C", 1))
            assert await kept.get("cdrs", EMA, CPA, "C") == cdr(CPA, "C", 1)
            assert (
                await kept.page("cdrs", EMA, date_from=stamp(1), date_to=None, offset=0, limit=5)
            )[1] == 1
            parked = await kept.park("cdrs", CPB, "C", cdr(CPB, "C", 1), "unknown eMSP")
            assert (await kept.unrouted(0, 5))[1] == 1
            assert await kept.unrouted_count() == 1
            assert await kept.assign(parked.id, EMB) is not None
            assert await kept.get("cdrs", EMB, CPB, "C") == cdr(CPB, "C", 1)
        finally:
            await client.aclose()

    asyncio.run(main())
