"""Sessions and CDRs whose eMSP the hub could not find (README: "Unrouted sessions and CDRs"):
the admin API and ``ocpi-hub unrouted`` list them, and give one to its eMSP, which then pulls it
from the hub. They are parked through the store here, on the hub's own Redis: the call paths
that park them are the version layer's. A hub of this module's own, so that the list holds only
what these tests park."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from hub.store.kept import KeptRecords, Parked
from tests import client
from tests.e2e.network import Member, member
from tests.e2e.objects import cdr, session
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.test_cli_admin import run_cli, run_json, table

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CPO, EMA, EMB, UNKNOWN = ("UR", "CPO"), ("UR", "EMA"), ("UR", "EMB"), ("UR", "ZZZ")
COLUMNS = ["id", "module", "cpo", "object_id", "kept_at", "reason"]


@dataclass
class Network:
    hub: InProcessHub
    cpo: Member
    ema: Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with own_hub(tmp_path_factory.mktemp("unrouted") / "data") as hub, ExitStack() as stack:
        yield Network(
            hub=hub,
            cpo=stack.enter_context(member(hub, ("UR", "CPO", "CPO"))),
            ema=stack.enter_context(member(hub, ("UR", "EMA", "EMSP"))),
        )


@pytest.fixture(autouse=True)
def empty(net: Network) -> None:
    """Each test starts with nothing parked."""

    async def main() -> None:
        redis = Redis.from_url(net.hub.redis_url)
        try:
            kept = KeptRecords(redis, retention=3600)
            found, _ = await kept.unrouted(0, 1000)
            for parked in found:
                await kept.assign(parked.id, EMB)
        finally:
            await redis.aclose()

    asyncio.run(main())


def park(net: Network, module: str, object_id: str, body: dict[str, Any], reason: str) -> Parked:
    async def main() -> Parked:
        redis = Redis.from_url(net.hub.redis_url)
        try:
            kept = KeptRecords(redis, retention=90 * 24 * 3600)
            return await kept.park(module, CPO, object_id, orjson.dumps(body), reason)
        finally:
            await redis.aclose()

    return asyncio.run(main())


def party(key: tuple[str, str]) -> dict[str, str]:
    return {"country_code": key[0], "party_id": key[1]}


# --- the admin API ----------------------------------------------------------------------


def test_the_admin_api_lists_them_oldest_first_a_page_at_a_time(net: Network) -> None:
    lost = cdr(CPO, "C-LOST", UNKNOWN)
    first = park(net, "cdrs", "C-LOST", lost, "no eMSP for token TOKEN-1")
    second = park(net, "sessions", "S-LOST", session(CPO, "S-LOST", UNKNOWN), "no eMSP known")

    status, headers, found = net.hub.admin("GET", "/unrouted")
    assert status == 200, found
    assert headers["x-total-count"] == "2"
    assert [p["id"] for p in found] == [first.id, second.id]
    assert found[0] == {
        "id": first.id,
        "module": "cdrs",
        "cpo": party(CPO),
        "object_id": "C-LOST",
        "reason": "no eMSP for token TOKEN-1",
        "kept_at": first.kept_at,
        "body": lost,
        "version": "2.2.1",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", found[0]["kept_at"])

    status, headers, page = net.hub.admin("GET", "/unrouted?offset=1&limit=1")
    assert (status, [p["id"] for p in page], headers["x-total-count"]) == (200, [second.id], "2")
    assert net.hub.admin("GET", "/unrouted?offset=5")[2] == []

    _, _, text = client.request("GET", f"{net.hub.url}/metrics")
    assert re.search(r"^ocpi_hub_unrouted 2\.0$", str(text), re.M), text


@pytest.mark.parametrize(
    ("query", "says"),
    [("offset=-1", "offset"), ("limit=lots", "limit"), ("offset=1e3", "offset")],
)
def test_a_bad_page_is_400(net: Network, query: str, says: str) -> None:
    status, _, answer = net.hub.admin("GET", f"/unrouted?{query}")
    assert status == 400 and says in answer["error"], answer


def test_the_list_needs_the_admin_token(net: Network) -> None:
    status, _, _ = client.request("GET", f"{net.hub.url}/admin/unrouted")
    assert status == 401


def test_an_assigned_cdr_is_the_emsps_to_pull(net: Network) -> None:
    body = cdr(CPO, "C-ASSIGN", UNKNOWN)
    parked = park(net, "cdrs", "C-ASSIGN", body, "no eMSP for token TOKEN-1")

    url = f"/unrouted/{parked.id}/assign"
    status, _, answer = net.hub.admin(
        "POST", url, {"emsp": {"country_code": "ur", "party_id": "ema"}}
    )
    assert status == 200, answer
    assert (answer["id"], answer["object_id"], answer["body"]) == (parked.id, "C-ASSIGN", body)
    assert net.hub.admin("GET", "/unrouted")[2] == []
    # The eMSP pulls it from the hub like any CDR delivered to it.
    _, _, pulled = net.ema.call("GET", f"{V}/sender/cdrs", to=HUB)
    assert pulled["status_code"] == 1000 and pulled["data"] == [body]
    # Once assigned, it is no longer there to assign.
    status, _, answer = net.hub.admin("POST", url, {"emsp": party(EMA)})
    assert status == 404 and "no unrouted session or CDR" in answer["error"]


@pytest.mark.parametrize(
    ("emsp", "status", "says"),
    [
        (party(("UR", "ZZZ")), 400, "no platform is granted UR/ZZZ in a role that receives"),
        (party(CPO), 400, "no platform is granted UR/CPO in a role that receives"),
        ({"country_code": "UR"}, 400, "party_id"),
    ],
)
def test_an_assignment_to_no_emsp_is_refused(
    net: Network, emsp: dict[str, str], status: int, says: str
) -> None:
    parked = park(net, "cdrs", "C-STAYS", cdr(CPO, "C-STAYS", UNKNOWN), "no eMSP")
    got, _, answer = net.hub.admin("POST", f"/unrouted/{parked.id}/assign", {"emsp": emsp})
    assert (got, says in answer["error"]) == (status, True), answer
    assert [p["id"] for p in net.hub.admin("GET", "/unrouted")[2]] == [parked.id]


@pytest.mark.parametrize("unrouted_id", ["0123456789abcdef", "x%7D%7Bhub", "short"])
def test_an_unknown_id_is_404(net: Network, unrouted_id: str) -> None:
    status, _, answer = net.hub.admin(
        "POST", f"/unrouted/{unrouted_id}/assign", {"emsp": party(EMA)}
    )
    assert status == 404 and "no unrouted session or CDR" in answer["error"], answer


# --- ocpi-hub unrouted -------------------------------------------------------------------


def test_the_cli_lists_them_as_a_table_or_json(net: Network) -> None:
    empty = run_cli("unrouted", hub=net.hub)
    assert empty.returncode == 0, empty.stderr
    assert empty.stdout.split() == COLUMNS

    first = park(net, "cdrs", "C-CLI", cdr(CPO, "C-CLI", UNKNOWN), "no eMSP for token TOKEN-1")
    second = park(net, "sessions", "S-CLI", session(CPO, "S-CLI", UNKNOWN), "no eMSP known")
    listed = run_cli("unrouted", hub=net.hub)
    assert listed.returncode == 0, listed.stderr
    columns, rows = table(listed.stdout)
    assert columns == COLUMNS
    assert rows == [
        [first.id, "cdrs", "UR:CPO", "C-CLI", first.kept_at, "no eMSP for token TOKEN-1"],
        [second.id, "sessions", "UR:CPO", "S-CLI", second.kept_at, "no eMSP known"],
    ]
    answer = run_json("unrouted", "--offset", "1", "--limit", "5", hub=net.hub)
    assert [p["id"] for p in answer] == [second.id]
    assert answer[0]["body"]["id"] == "S-CLI"


def test_the_cli_assigns_one_to_its_emsp(net: Network) -> None:
    parked = park(net, "sessions", "S-GIVE", session(CPO, "S-GIVE", UNKNOWN), "no eMSP known")
    given = run_cli("unrouted", "--assign", parked.id, "--emsp", "UR:EMA", hub=net.hub)
    assert given.returncode == 0, given.stderr
    assert f"id: {parked.id}" in given.stdout and "object_id: S-GIVE" in given.stdout
    assert run_json("unrouted", hub=net.hub) == []
    _, _, pulled = net.ema.call("GET", f"{V}/sender/sessions", to=HUB)
    assert [s["id"] for s in pulled["data"]] == ["S-GIVE"]

    again = run_cli("unrouted", "--assign", parked.id, "--emsp", "UR:EMA", hub=net.hub)
    assert again.returncode == 1 and "(HTTP 404)" in again.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--emsp", "UR:EMA"], "--emsp needs --assign"),
        (["--assign", "0123456789abcdef"], "--assign needs --emsp"),
    ],
)
def test_the_cli_refuses_half_an_assignment(net: Network, args: list[str], says: str) -> None:
    refused = run_cli("unrouted", *args, hub=net.hub)
    assert (refused.returncode, refused.stdout) == (2, "")
    assert says in refused.stderr
