"""HeldObjects (the hub's GET-all store) against a real redis-server of the test's own."""

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

from hub.ocpi.common import to_epoch_ms
from hub.store import keys
from hub.store.connection import RedisClient
from hub.store.embedded import EmbeddedRedis
from hub.store.held import HeldObjects
from tests.cluster import redis_cluster

NL = ("NL", "CPA")
DE = ("DE", "CPB")
Scenario = Callable[[HeldObjects, RedisClient], Awaitable[None]]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with EmbeddedRedis(tmp_path / "data") as srv:
        yield srv.url


def run(url: str, scenario: Scenario) -> None:
    async def main() -> None:
        client = Redis.from_url(url)
        try:
            await scenario(HeldObjects(client), client)
        finally:
            await client.aclose()

    asyncio.run(main())


def stamp(minute: int, second: int = 0) -> str:
    return f"2024-03-01T10:{minute:02d}:{second:02d}Z"


def connector(cid: str, last_updated: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 32,
        "last_updated": last_updated,
        **extra,
    }


def evse(uid: str, last_updated: str, *connectors: dict[str, Any]) -> dict[str, Any]:
    return {
        "uid": uid,
        "status": "AVAILABLE",
        "last_updated": last_updated,
        "connectors": list(connectors) or [connector("1", last_updated)],
    }


def location(owner: tuple[str, str], lid: str, last_updated: str, *evses: Any) -> bytes:
    """Pretty-printed on purpose, with a float: kept bytes must be exactly these."""
    body = {
        "country_code": owner[0],
        "party_id": owner[1],
        "id": lid,
        "publish": True,
        "address": "Straat 1",
        "city": "Arnhem",
        "country": "NLD",
        "time_zone": "Europe/Amsterdam",
        "coordinates": {"latitude": "51.98", "longitude": "5.91"},
        "power": 11.10,
        "evses": list(evses),
        "last_updated": last_updated,
    }
    return json.dumps(body, indent=1).encode()


def js(value: Any) -> bytes:
    return orjson.dumps(value)


def ids(objects: list[bytes]) -> list[str]:
    return [orjson.loads(o).get("id") or orjson.loads(o)["uid"] for o in objects]


async def get_dict(held: HeldObjects, module: str, owner: Any, path: list[str]) -> Any:
    raw = await held.get(module, owner, path)
    return None if raw is None else orjson.loads(raw)


# --- the date-time parser ----------------------------------------------------------------


def test_to_epoch_ms() -> None:
    base = 1709287445000  # 2024-03-01T10:04:05Z
    assert to_epoch_ms("2024-03-01T10:04:05Z") == base
    assert to_epoch_ms("2024-03-01T10:04:05") == base  # no designator: UTC
    assert to_epoch_ms("2024-03-01T10:04:05+00:00") == base
    assert to_epoch_ms("2024-03-01t10:04:05z") == base
    assert to_epoch_ms("2024-03-01T10:04:05.5Z") == base + 500
    assert to_epoch_ms("2024-03-01T10:04:05.123987Z") == base + 123  # truncated, not rounded
    assert to_epoch_ms("2024-03-01T11:34:05+01:30") == base
    assert to_epoch_ms("1970-01-01T00:00:00Z") == 0
    for bad in ["2024-13-01T00:00:00Z", "2024-03-01", "2024-03-01T10:04:05+0100", "now", ""]:
        with pytest.raises(ValueError):
            to_epoch_ms(bad)


# --- whole objects and pages -------------------------------------------------------------


def test_put_get_identical_bytes_and_merged_page(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        bodies = {
            ("NL", "B"): location(NL, "B", stamp(3)),
            ("DE", "A"): location(DE, "A", "2024-03-01T10:01:00.000+00:00"),
            ("NL", "A"): location(NL, "a", stamp(2)),
        }
        for (cc, lid), body in bodies.items():
            assert await held.put("locations", NL if cc == "NL" else DE, [lid], body) is True
        assert await held.get("locations", NL, ["B"]) == bodies["NL", "B"]
        assert await held.get("locations", ("nl", "cpa"), ["a"]) == bodies["NL", "A"]  # CiString
        assert await held.get("locations", DE, ["B"]) is None
        objects, total = await held.page(
            "locations", date_from=None, date_to=None, offset=0, limit=10
        )
        assert total == 3
        assert objects == [bodies["DE", "A"], bodies["NL", "A"], bodies["NL", "B"]]
        # A PUT replaces the whole object and moves it in the order.
        newer = location(DE, "A", stamp(9))
        await held.put("locations", DE, ["A"], newer)
        objects, total = await held.page(
            "locations", date_from=None, date_to=None, offset=0, limit=10
        )
        assert (objects, total) == ([bodies["NL", "A"], bodies["NL", "B"], newer], 3)

    run(url, scenario)


def test_date_boundaries_offset_limit_and_ties(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        # Two objects share each minute: ties are ordered by key (owner, then id).
        for minute in (1, 2, 3):
            await held.put(
                "tariffs",
                NL,
                [f"T{minute}"],
                js({"id": f"T{minute}", "last_updated": stamp(minute)}),
            )
            await held.put(
                "tariffs",
                DE,
                [f"T{minute}"],
                js({"id": f"T{minute}", "last_updated": stamp(minute)}),
            )

        async def page(**kw: Any) -> tuple[list[tuple[str, str]], int]:
            args = {"date_from": None, "date_to": None, "offset": 0, "limit": 100} | kw
            objects, total = await held.page("tariffs", **args)
            return [(o["id"], o["last_updated"][-6:-4]) for o in map(orjson.loads, objects)], total

        everything = [
            ("T1", "01"),
            ("T1", "01"),
            ("T2", "02"),
            ("T2", "02"),
            ("T3", "03"),
            ("T3", "03"),
        ]
        assert await page() == (everything, 6)
        assert await page(date_from=stamp(2)) == (everything[2:], 4)  # inclusive
        assert await page(date_from="2024-03-01T10:02:00.001Z") == (everything[4:], 2)
        assert await page(date_to=stamp(2)) == (everything[:2], 2)  # exclusive
        assert await page(date_to="2024-03-01T10:02:00.001Z") == (everything[:4], 4)
        assert await page(date_from=stamp(2), date_to=stamp(3)) == (everything[2:4], 2)
        assert await page(date_from=stamp(3), date_to=stamp(2)) == ([], 0)
        assert await page(offset=1, limit=2) == (everything[1:3], 6)
        assert await page(date_from=stamp(2), offset=1, limit=2) == (everything[3:5], 4)
        assert await page(offset=5, limit=10) == (everything[5:], 6)
        assert await page(offset=6) == ([], 6)
        assert await page(limit=0) == ([], 6)
        objects, _ = await held.page("tariffs", date_from=None, date_to=None, offset=0, limit=2)
        assert [orjson.loads(o)["id"] for o in objects] == ["T1", "T1"]
        assert [
            orjson.loads(await held.get("tariffs", o, ["t1"]) or b"{}")["id"] for o in (DE, NL)
        ] == ["T1", "T1"]
        # DE:CPB sorts before NL:CPA: the first of each tie is DE's.
        assert objects[0] == await held.get("tariffs", DE, ["T1"])

    run(url, scenario)


# --- EVSEs and Connectors ----------------------------------------------------------------


def test_evse_and_connector_merge_and_bump(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        await held.put("locations", NL, ["L1"], location(NL, "L1", stamp(1), evse("E1", stamp(1))))
        await held.put("locations", NL, ["L2"], location(NL, "L2", stamp(5)))

        async def order() -> list[str]:
            objects, _ = await held.page(
                "locations", date_from=None, date_to=None, offset=0, limit=10
            )
            return ids(objects)

        assert await order() == ["L1", "L2"]
        # EVSE PUT, new uid: appended; the Location takes the EVSE's stamp exactly as sent.
        sent = "2024-03-01T10:07:30.250Z"
        assert await held.put("locations", NL, ["L1", "E2"], js(evse("E2", sent))) is True
        loc = await get_dict(held, "locations", NL, ["L1"])
        assert [e["uid"] for e in loc["evses"]] == ["E1", "E2"]
        assert loc["last_updated"] == sent
        assert loc["power"] == 11.10 and loc["city"] == "Arnhem"
        assert await order() == ["L2", "L1"]
        page, total = await held.page("locations", date_from=sent, date_to=None, offset=0, limit=10)
        assert (ids(page), total) == (["L1"], 1)
        # EVSE PUT, known uid (any case): replaced; an older stamp does not move the Location back.
        await held.put(
            "locations", NL, ["L1", "e1"], js(evse("E1", stamp(2)) | {"status": "BLOCKED"})
        )
        loc = await get_dict(held, "locations", NL, ["L1"])
        assert [(e["uid"], e["status"]) for e in loc["evses"]] == [
            ("E1", "BLOCKED"),
            ("E2", "AVAILABLE"),
        ]
        assert loc["last_updated"] == sent
        # EVSE PATCH: shallow merge, the stamp bumps the Location.
        patch = {"status": "CHARGING", "last_updated": "2024-03-01T10:08:00"}
        assert await held.patch("locations", NL, ["L1", "E1"], js(patch)) is True
        got = await get_dict(held, "locations", NL, ["L1", "E1"])
        assert (got["status"], got["last_updated"], len(got["connectors"])) == (
            "CHARGING",
            "2024-03-01T10:08:00",
            1,
        )
        loc = await get_dict(held, "locations", NL, ["L1"])
        assert loc["last_updated"] == "2024-03-01T10:08:00"
        # Connector PUT (new id): appended; EVSE and Location take its stamp.
        c_sent = "2024-03-01T10:09:00.5+00:00"
        assert (
            await held.put("locations", NL, ["L1", "E1", "2"], js(connector("2", c_sent))) is True
        )
        loc = await get_dict(held, "locations", NL, ["L1"])
        e1 = loc["evses"][0]
        assert [c["id"] for c in e1["connectors"]] == ["1", "2"]
        assert e1["last_updated"] == c_sent and loc["last_updated"] == c_sent
        assert loc["evses"][1]["last_updated"] == sent  # the other EVSE is untouched
        # Connector PUT of a known id replaces; Connector PATCH merges.
        await held.put(
            "locations", NL, ["L1", "E1", "1"], js(connector("1", stamp(9), max_amperage=16))
        )
        assert (
            await held.patch(
                "locations",
                NL,
                ["L1", "E1", "2"],
                js({"max_voltage": 400, "last_updated": stamp(11)}),
            )
            is True
        )
        got = await get_dict(held, "locations", NL, ["L1", "E1"])
        assert [(c["id"], c["max_amperage"], c["max_voltage"]) for c in got["connectors"]] == [
            ("1", 16, 230),
            ("2", 32, 400),
        ]
        assert got["last_updated"] == stamp(11)
        assert await get_dict(held, "locations", NL, ["L1", "E1", "2"]) == connector(
            "2", stamp(11), max_voltage=400
        )
        assert await held.get("locations", NL, ["L1", "E9"]) is None
        assert await held.get("locations", NL, ["L1", "E1", "9"]) is None
        page, total = await held.page(
            "locations", date_from=stamp(10), date_to=stamp(12), offset=0, limit=10
        )
        assert (ids(page), total) == (["L1"], 1)

    run(url, scenario)


def test_unknown_parents_store_nothing(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        assert await held.put("locations", NL, ["NOPE", "E1"], js(evse("E1", stamp(1)))) is False
        assert await held.patch("locations", NL, ["NOPE", "E1"], js({"status": "X"})) is False
        assert (
            await held.put("locations", NL, ["NOPE", "E1", "1"], js(connector("1", stamp(1))))
            is False
        )
        assert await held.get("locations", NL, ["NOPE"]) is None
        assert await held.page("locations", date_from=None, date_to=None, offset=0, limit=10) == (
            [],
            0,
        )
        assert await client.dbsize() == 0
        # A known Location, but an unknown EVSE: a Connector PUT or an EVSE PATCH stores nothing.
        body = location(NL, "L1", stamp(1), evse("E1", stamp(1)))
        await held.put("locations", NL, ["L1"], body)
        assert (
            await held.put("locations", NL, ["L1", "E2", "1"], js(connector("1", stamp(2))))
            is False
        )
        assert await held.patch("locations", NL, ["L1", "E2"], js({"status": "X"})) is False
        assert await held.patch("locations", NL, ["L1", "E1", "7"], js({"max_voltage": 1})) is False
        assert await held.get("locations", NL, ["L1"]) == body

    run(url, scenario)


def test_patch_of_location_field_and_unknown_object(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        await held.put("locations", NL, ["L1"], location(NL, "L1", stamp(1), evse("E1", stamp(1))))
        await held.put("locations", NL, ["L2"], location(NL, "L2", stamp(2)))
        patch = {"name": "Station", "evses": [], "last_updated": stamp(3)}
        assert await held.patch("locations", NL, ["l1"], js(patch)) is True
        loc = await get_dict(held, "locations", NL, ["L1"])
        assert (loc["name"], loc["evses"], loc["last_updated"], loc["city"]) == (
            "Station",
            [],
            stamp(3),
            "Arnhem",
        )
        objects, _ = await held.page("locations", date_from=None, date_to=None, offset=0, limit=9)
        assert ids(objects) == ["L2", "L1"]
        assert await held.patch("locations", DE, ["L1"], js(patch)) is False
        assert await held.patch("tokens", NL, ["U1"], js({"valid": False})) is False

    run(url, scenario)


# --- tokens and tariffs ------------------------------------------------------------------


def test_a_page_of_some_owners_counts_and_pages_only_theirs(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        third = ("BE", "CPC")
        for n, owner in enumerate([NL, DE, third, NL, DE, NL]):
            body = js({"id": f"X{n}", "last_updated": stamp(n)})
            await held.put("tariffs", owner, [f"X{n}"], body)
        everyone = await held.page("tariffs", date_from=None, date_to=None, offset=0, limit=9)
        assert everyone[1] == 6
        mine, total = await held.page(
            "tariffs", date_from=None, date_to=None, offset=1, limit=1, owners=[NL, third]
        )
        assert (ids(mine), total) == (["X2"], 4)
        rest, total = await held.page(
            "tariffs", date_from=stamp(3), date_to=None, offset=0, limit=9, owners=[NL]
        )
        assert (ids(rest), total) == (["X3", "X5"], 2)
        none, total = await held.page(
            "tariffs", date_from=None, date_to=None, offset=0, limit=9, owners=[]
        )
        assert (none, total) == ([], 0)

    run(url, scenario)


def test_tokens_by_uid_and_type_and_tariff_delete(url: str) -> None:
    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        rfid = js({"uid": "U1", "type": "RFID", "valid": True, "last_updated": stamp(1)})
        app = js({"uid": "U1", "type": "APP_USER", "valid": True, "last_updated": stamp(2)})
        await held.put("tokens", NL, ["U1"], rfid)  # type defaults to RFID
        await held.put("tokens", NL, ["u1", "APP_USER"], app)
        assert await held.get("tokens", NL, ["U1", "RFID"]) == rfid
        assert await held.get("tokens", NL, ["U1", "app_user"]) == app
        assert await held.owners_of("tokens", ["U1"]) == [NL]  # found by id alone
        assert await held.owners_of("tokens", ["U1", "APP_USER"]) == [NL]
        assert await held.owners_of("tokens", ["U2"]) == []
        assert await held.page("tokens", date_from=None, date_to=None, offset=0, limit=9) == (
            [rfid, app],
            2,
        )
        assert (
            await held.patch(
                "tokens", NL, ["U1", "APP_USER"], js({"valid": False, "last_updated": stamp(3)})
            )
            is True
        )
        assert (await get_dict(held, "tokens", NL, ["U1"]))["valid"] is True
        assert (await get_dict(held, "tokens", NL, ["U1", "APP_USER"]))["valid"] is False

        tariff = js({"id": "T1", "last_updated": stamp(1)})
        await held.put("tariffs", NL, ["T1"], tariff)
        await held.put("tariffs", DE, ["T1"], tariff)
        assert sorted(await held.owners_of("tariffs", ["t1"])) == sorted([NL, DE])
        await held.delete("tariffs", DE, ["T1"])
        await held.delete("tariffs", DE, ["T1"])  # twice is fine
        assert await held.get("tariffs", DE, ["T1"]) is None
        assert await held.get("tariffs", NL, ["T1"]) == tariff
        await held.delete("tariffs", NL, ["t1"])
        assert await held.owners_of("tariffs", ["T1"]) == []
        assert await held.page("tariffs", date_from=None, date_to=None, offset=0, limit=9) == (
            [],
            0,
        )

    run(url, scenario)


# --- several hub processes ---------------------------------------------------------------


def test_concurrent_merges_lose_nothing(url: str) -> None:
    """Two clients (two hub processes) put 40 EVSEs into one Location at once: compare-and-set
    keeps all of them, and the index score is that of the stored last_updated."""

    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        other = Redis.from_url(url)
        try:
            second = HeldObjects(other)
            await held.put("locations", NL, ["L1"], location(NL, "L1", stamp(0)))
            await asyncio.gather(
                *(
                    (held if n % 2 else second).put(
                        "locations", NL, ["L1", f"E{n}"], js(evse(f"E{n}", stamp(n)))
                    )
                    for n in range(1, 41)
                )
            )
        finally:
            await other.aclose()
        loc = await get_dict(held, "locations", NL, ["L1"])
        assert sorted(e["uid"] for e in loc["evses"]) == sorted(f"E{n}" for n in range(1, 41))
        assert loc["last_updated"] == stamp(40)
        objects, total = await held.page(
            "locations", date_from=stamp(40), date_to=None, offset=0, limit=9
        )
        assert (ids(objects), total) == (["L1"], 1)

    run(url, scenario)


def test_merge_retries_when_another_process_wrote_meanwhile(url: str) -> None:
    """Another process changes the Location between this merge's read and its write: the
    write is refused (compare and set), and the merge is done again on the newer Location."""

    class Interrupted(HeldObjects):
        other: HeldObjects
        writes = 0

        async def _store(self, *args: Any, **kwargs: Any) -> bool:
            self.writes += 1
            if self.writes == 1:
                await self.other.put("locations", NL, ["L1", "E2"], js(evse("E2", stamp(2))))
            return await super()._store(*args, **kwargs)

    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        await held.put("locations", NL, ["L1"], location(NL, "L1", stamp(0)))
        other = Redis.from_url(url)
        try:
            interrupted = Interrupted(client)
            interrupted.other = HeldObjects(other)
            assert await interrupted.put("locations", NL, ["L1", "E1"], js(evse("E1", stamp(1))))
        finally:
            await other.aclose()
        assert interrupted.writes == 2
        loc = await get_dict(held, "locations", NL, ["L1"])
        assert [e["uid"] for e in loc["evses"]] == ["E2", "E1"]
        assert loc["last_updated"] == stamp(2)
        assert await client.zscore(keys.held_index("locations"), "NL:CPA:L1") == to_epoch_ms(
            stamp(2)
        )

    run(url, scenario)


# --- deep pages --------------------------------------------------------------------------


async def commandstats(client: RedisClient) -> dict[str, int]:
    info = await client.info("commandstats")
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in info.items() if k != "cmdstat_info"}


def test_deep_page_costs_what_the_first_costs(url: str) -> None:
    count = 20_000

    async def scenario(held: HeldObjects, client: RedisClient) -> None:
        base = to_epoch_ms(stamp(0))

        def when(n: int) -> str:
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base // 1000 + n)) + "Z"

        # Written straight into the module's keys in pipelines (the layout of keys.held_*),
        # which is what 20,000 PUTs would leave; one PUT through the API checks the layout.
        for start in range(0, count, 2000):
            async with client.pipeline(transaction=False) as pipe:
                for n in range(start, start + 2000):
                    key = f"NL:CPA:L{n:05d}"
                    body = js({"id": f"L{n:05d}", "last_updated": when(n)})
                    pipe.hset(keys.held_objects("locations"), key, body)
                    pipe.zadd(keys.held_index("locations"), {key: to_epoch_ms(when(n))})
                    pipe.zadd(keys.held_ids("locations"), {f"L{n:05d}\0{key}": 0})
                await pipe.execute()
        same = js({"id": "L00007", "last_updated": when(7)})
        await held.put("locations", NL, ["L00007"], same)
        assert await client.hlen(keys.held_objects("locations")) == count
        assert await held.owners_of("locations", ["L00007"]) == [NL]
        assert await held.get("locations", NL, ["L00007"]) == same
        await held.page("locations", date_from=None, date_to=None, offset=0, limit=1)  # loads

        async def cost(**kw: Any) -> tuple[list[str], int, dict[str, int]]:
            await client.config_resetstat()
            objects, total = await held.page("locations", limit=100, **kw)
            stats = await commandstats(client)
            stats.pop("config|resetstat", None)
            return ids(objects), total, stats

        first, total, first_cost = await cost(date_from=None, date_to=None, offset=0)
        deep, deep_total, deep_cost = await cost(date_from=None, date_to=None, offset=19_900)
        assert first == [f"L{n:05d}" for n in range(100)]
        assert deep == [f"L{n:05d}" for n in range(19_900, 20_000)]
        assert total == deep_total == count
        assert deep_cost == first_cost
        assert "zrangebyscore" not in deep_cost and "zrange" in deep_cost
        assert sum(deep_cost.values()) <= 6
        # Deep inside a date window: the same bounded cost.
        dated, dated_total, dated_cost = await cost(
            date_from=when(5_000), date_to=when(15_000), offset=9_900
        )
        assert dated == [f"L{n:05d}" for n in range(14_900, 15_000)]
        assert dated_total == 10_000
        assert "zrangebyscore" not in dated_cost and sum(dated_cost.values()) <= 7

    run(url, scenario)


# --- Redis Cluster -----------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    """A one-node Redis Cluster owning every slot: enough to show that every command and
    script of the module stays in one slot (a cluster refuses cross-slot calls)."""
    with redis_cluster(tmp_path / "cluster", nodes=1) as url:
        yield url


def test_works_on_redis_cluster(cluster: str) -> None:
    async def main() -> None:
        client = RedisCluster.from_url(cluster)
        try:
            held = HeldObjects(client)
            body = location(NL, "L1", stamp(1), evse("E1", stamp(1)))
            await held.put("locations", NL, ["L1"], body)
            await held.put("locations", DE, ["L2"], location(DE, "L2", stamp(2)))
            assert await held.get("locations", NL, ["L1"]) == body
            assert await held.patch(
                "locations", NL, ["L1", "E1"], js({"status": "CHARGING", "last_updated": stamp(3)})
            )
            assert await held.owners_of("locations", ["L2"]) == [DE]
            objects, total = await held.page(
                "locations", date_from=stamp(1), date_to=None, offset=0, limit=10
            )
            assert (ids(objects), total) == (["L2", "L1"], 2)
            await held.put("tariffs", NL, ["T1"], js({"id": "T1", "last_updated": stamp(1)}))
            await held.delete("tariffs", NL, ["T1"])
            assert await held.get("tariffs", NL, ["T1"]) is None
        finally:
            await client.aclose()

    asyncio.run(main())
