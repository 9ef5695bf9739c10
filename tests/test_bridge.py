"""The version layer's choice of translation per call shape, and what it fills in from what the
hub keeps (hub.bridge), against a real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from hub.bridge import COMMAND_TIMEOUT, Bridge, Withheld
from hub.ocpi.versions import RECEIVER, SENDER
from hub.store.contracts import Contracts, ReservationNumbers
from hub.store.directory import Directory
from hub.store.embedded import EmbeddedRedis
from hub.store.held import HeldObjects
from hub.store.kept import KeptRecords
from tests.e2e.objects import location, session, token

EXAMPLES = Path(__file__).parent / "examples" / "2.1.1"
CPO, EMSP = ("BE", "CPO"), ("NL", "EMS")


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedRedis(tmp_path_factory.mktemp("bridge") / "data") as srv:
        yield srv.url


def run(url: str, scenario: Callable[[Bridge, HeldObjects], Awaitable[None]]) -> None:
    async def main() -> None:
        redis = Redis.from_url(url)
        try:
            await redis.flushdb()
            held = HeldObjects(redis)
            kept = KeptRecords(redis, retention=3600)
            bridge = Bridge(
                held, Contracts(redis), ReservationNumbers(redis), kept, Directory(redis)
            )
            await scenario(bridge, held)
        finally:
            await redis.aclose()

    asyncio.run(main())


def example(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return found


def decoded(result: tuple[Any, ...] | Withheld) -> Any:
    assert not isinstance(result, Withheld), result
    return orjson.loads(result[-1])


def with_evse(location_id: str) -> dict[str, Any]:
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 16,
        "last_updated": "2026-11-24T10:00:00Z",
    }
    evse = {
        "uid": "EVSE-1",
        "status": "AVAILABLE",
        "connectors": [connector],
        "last_updated": "2026-11-24T10:00:00Z",
    }
    return location(CPO, location_id) | {"evses": [evse], "parking_type": "ON_STREET"}


def test_a_token_goes_down_without_its_type_parameter_and_owner(url: str) -> None:
    async def scenario(bridge: Bridge, _: HeldObjects) -> None:
        body = orjson.dumps(token(EMSP, "U1") | {"type": "APP_USER"})
        result = await bridge.request_down(
            "tokens", RECEIVER, "PUT", ["NL", "EMS", "U1"], "type=APP_USER", body
        )
        assert not isinstance(result, Withheld)
        query, sent = result
        assert query == ""
        down = orjson.loads(sent)
        assert down["auth_id"] == token(EMSP, "U1")["contract_id"]
        assert down["type"] == "OTHER" and "country_code" not in down

    run(url, scenario)


def test_a_211_token_goes_up_with_its_owner_and_type(url: str) -> None:
    async def scenario(bridge: Bridge, _: HeldObjects) -> None:
        body = orjson.dumps(example("token_example.json"))
        result = await bridge.request_up(
            "tokens", RECEIVER, "PUT", ["NL", "EMS", "012345678"], "", body, EMSP
        )
        assert not isinstance(result, Withheld)
        method, query, sent = result
        up = orjson.loads(sent)
        assert (method, query) == ("PUT", "type=RFID")
        assert (up["country_code"], up["party_id"]) == EMSP
        assert up["contract_id"] == example("token_example.json")["auth_id"]

    run(url, scenario)


def test_an_unpublished_location_never_goes_down(url: str) -> None:
    async def scenario(bridge: Bridge, _: HeldObjects) -> None:
        body = orjson.dumps(location(CPO, "L1") | {"publish": False})
        result = await bridge.request_down(
            "locations", RECEIVER, "PUT", ["BE", "CPO", "L1"], "", body
        )
        assert isinstance(result, Withheld) and "publish" in result.why
        # In a list answer it is left out; the others stay.
        listed = [location(CPO, "L2"), location(CPO, "L3") | {"publish": False}]
        down = await bridge.data_down("locations", SENDER, "GET", listed)
        assert [item["id"] for item in down] == ["L2"]

    run(url, scenario)


def test_a_211_location_without_time_zone_needs_the_operators_default(url: str) -> None:
    async def scenario(bridge: Bridge, _: HeldObjects) -> None:
        body = orjson.dumps(example("location_example.json"))
        path = ["BE", "CPO", "LOC1"]
        refused = await bridge.request_up("locations", RECEIVER, "PUT", path, "", body, CPO)
        assert isinstance(refused, Withheld) and "time_zone" in refused.why
        result = await bridge.request_up(
            "locations", RECEIVER, "PUT", path, "", body, CPO, time_zone="Europe/Brussels"
        )
        up = decoded(result)
        assert up["time_zone"] == "Europe/Brussels" and up["publish"] is True
        assert (up["country_code"], up["party_id"]) == CPO

    run(url, scenario)


def test_a_211_tariff_patch_becomes_the_put_of_the_merged_tariff(url: str) -> None:
    async def scenario(bridge: Bridge, held: HeldObjects) -> None:
        path = ["BE", "CPO", "T1"]
        patch = orjson.dumps({"currency": "USD", "last_updated": "2026-11-24T11:00:00Z"})
        refused = await bridge.request_up("tariffs", RECEIVER, "PATCH", path, "", patch, CPO)
        assert isinstance(refused, Withheld)  # nothing to merge into: never half a tariff
        tariff = example("tariff_1_simple_2hour.json") | {"id": "T1"}
        method, _, whole = await _up(bridge, "tariffs", "PUT", path, tariff)
        await held.put("tariffs", CPO, ["T1"], whole)
        method, _, merged = await _up(bridge, "tariffs", "PATCH", path, orjson.loads(patch))
        assert method == "PUT"
        assert orjson.loads(merged)["currency"] == "USD"
        assert orjson.loads(merged)["elements"] == orjson.loads(whole)["elements"]

    run(url, scenario)


async def _up(
    bridge: Bridge, module: str, method: str, path: list[str], body: dict[str, Any]
) -> tuple[str, str, bytes]:
    result = await bridge.request_up(module, RECEIVER, method, path, "", orjson.dumps(body), CPO)
    assert not isinstance(result, Withheld), result
    return result


def test_sessions_find_their_token_and_location_in_what_the_hub_keeps(url: str) -> None:
    async def scenario(bridge: Bridge, held: HeldObjects) -> None:
        pushed = example("session_example_1_simple_start.json")
        path = ["BE", "CPO", pushed["id"]]
        # Up: the CdrToken comes from the contract id; unknown, the session is withheld.
        refused = await bridge.request_up(
            "sessions", RECEIVER, "PUT", path, "", orjson.dumps(pushed), CPO
        )
        assert isinstance(refused, Withheld)
        known = token(EMSP, "U9") | {"contract_id": pushed["auth_id"].lower()}
        await bridge.learn("tokens", EMSP, known)
        _, _, sent = await _up(bridge, "sessions", "PUT", path, pushed)
        up = orjson.loads(sent)
        assert up["cdr_token"]["uid"] == "U9" and up["cdr_token"]["party_id"] == "EMS"
        # Down: the whole 2.1.1 Location comes from the hub's copy, cut to the EVSE.
        relayed = session(CPO, "S1", EMSP)
        args = ("sessions", RECEIVER, "PUT", ["BE", "CPO", "S1"], "", orjson.dumps(relayed))
        assert isinstance(await bridge.request_down(*args), Withheld)
        await held.put("locations", CPO, ["LOC-1"], orjson.dumps(with_evse("LOC-1")))
        down = decoded(await bridge.request_down(*args))
        assert down["auth_id"] == relayed["cdr_token"]["contract_id"]
        assert [e["uid"] for e in down["location"]["evses"]] == ["EVSE-1"]

    run(url, scenario)


def test_answers_change_status_codes_and_shapes_between_versions(url: str) -> None:
    async def scenario(bridge: Bridge, held: HeldObjects) -> None:
        # A 2.1.1 eMSP's 404 to an authorization is 2.2.1's 2004 Unknown Token.
        unknown = orjson.dumps({"status_code": 2000, "timestamp": "2026-11-24T10:00:00Z"})
        status, body = await bridge.answer_up(
            "tokens", SENDER, "POST", ["U1", "authorize"], "", 404, unknown, EMSP
        )
        assert (status, orjson.loads(body)["status_code"]) == (404, 2004)
        # A 2.1.1 CPO's CommandResponse gains the timeout 2.2.1 requires.
        accepted = orjson.dumps({"data": {"result": "ACCEPTED"}, "status_code": 1000})
        status, body = await bridge.answer_up(
            "commands", RECEIVER, "POST", ["START_SESSION"], "", 200, accepted, CPO
        )
        assert orjson.loads(body)["data"] == {"result": "ACCEPTED", "timeout": COMMAND_TIMEOUT}
        # A hub error toward a 2.1.1 caller: 4001 about a command's location is 2003.
        refused = orjson.dumps({"status_code": 4001, "status_message": "no CPO"})
        status, body = await bridge.answer_down(
            "commands", RECEIVER, "POST", 404, refused, command_location=True
        )
        answer = orjson.loads(body)
        assert answer["status_code"] == 2003 and "4001" in answer["status_message"]
        # And an answer that is not an envelope passes as it is.
        assert await bridge.answer_down("locations", SENDER, "GET", 502, b"<html>") == (
            502,
            b"<html>",
        )

    run(url, scenario)


def test_a_reservation_id_is_one_number_toward_211(url: str) -> None:
    async def scenario(bridge: Bridge, _: HeldObjects) -> None:
        async def sent(reservation_id: str) -> Any:
            request = {
                "response_url": "https://emsp.example.com/r/1",
                "token": token(EMSP, "U1"),
                "expiry_date": "2026-11-24T12:00:00Z",
                "reservation_id": reservation_id,
                "location_id": "L1",
            }
            body = orjson.dumps(request)
            path = ["RESERVE_NOW"]
            return decoded(await bridge.request_down("commands", RECEIVER, "POST", path, "", body))

        first, other, again = await sent("r-1"), await sent("r-2"), await sent("R-1")
        assert isinstance(first["reservation_id"], int)
        assert first["reservation_id"] == again["reservation_id"] != other["reservation_id"]
        # 2.1.1 has no CANCEL_RESERVATION: the caller answers NOT_SUPPORTED.
        cancel = orjson.dumps({"response_url": "https://e.example.com/r", "reservation_id": "r-1"})
        withheld = await bridge.request_down(
            "commands", RECEIVER, "POST", ["CANCEL_RESERVATION"], "", cancel
        )
        assert isinstance(withheld, Withheld)

    run(url, scenario)
