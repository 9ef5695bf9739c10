"""Tokens by contract id and 2.1.1 reservation numbers (hub.store.contracts) against a real
Redis."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from hub.store.contracts import Contracts, ReservationNumbers
from tests import redisstats
from tests.store.scenario import run

TOKEN = {"country_code": "NL", "party_id": "EMB", "uid": "U1", "type": "RFID"}


def test_a_contract_is_found_whatever_its_case_and_written_once(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        contracts = Contracts(redis)
        redisstats.reset(url)
        for _ in range(3):  # every session of the token names it again
            await contracts.remember({**TOKEN, "contract_id": "nl-emb-c1", "valid": True})
        assert redisstats.calls(url).get("set") == 1
        found = await contracts.find("NL-EMB-C1")
        assert found == {**TOKEN, "contract_id": "nl-emb-c1"}  # the CdrToken fields only
        # A token that changed hands is written again.
        await contracts.remember({**TOKEN, "party_id": "EMC", "contract_id": "NL-EMB-C1"})
        assert redisstats.calls(url).get("set") == 2
        assert (await contracts.find("nl-emb-c1") or {})["party_id"] == "EMC"
        # Without an owner or a contract id nothing is kept; unknown ids are None.
        await contracts.remember({**TOKEN, "contract_id": ""})
        await contracts.remember({"uid": "U2", "type": "RFID", "contract_id": "C2"})
        assert await contracts.find("C2") is None and await contracts.find("") is None
        # Another process's Contracts reads what this one wrote.
        assert (await Contracts(redis).find("NL-EMB-C1") or {})["uid"] == "U1"

    run(url, scenario)


def test_two_processes_numbering_one_reservation_agree(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        first, second = ReservationNumbers(redis), ReservationNumbers(redis)
        numbers = await asyncio.gather(*(n.number("RES-1") for n in (first, second, first, second)))
        assert len(set(numbers)) == 1
        assert await first.number("res-1") == numbers[0]  # a CiString
        assert await second.number("RES-2") != numbers[0]

    run(url, scenario)
