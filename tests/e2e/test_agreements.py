"""Roaming agreements end to end: a hub with ``--agreements required``, two CPOs and two eMSPs,
and the admin API that joins them (README: "Roaming agreements")."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.network import Member, member
from tests.e2e.objects import command_response, location, session, token
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.waiting import wait_for

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CPA, CPB, EMA, EMB = ("AG", "CPA"), ("AG", "CPB"), ("AG", "EMA"), ("AG", "EMB")


@dataclass
class Network:
    hub: InProcessHub
    cpa: Member
    cpb: Member
    ema: Member
    emb: Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    data = tmp_path_factory.mktemp("agreements") / "data"
    settings = {"agreements": "required", "retry_base": 0.1, "retry_max": 0.5}
    with own_hub(data, **settings) as hub, ExitStack() as stack:
        yield Network(
            hub=hub,
            cpa=stack.enter_context(member(hub, ("AG", "CPA", "CPO"))),
            cpb=stack.enter_context(member(hub, ("AG", "CPB", "CPO"))),
            ema=stack.enter_context(member(hub, ("AG", "EMA", "EMSP"))),
            emb=stack.enter_context(member(hub, ("AG", "EMB", "EMSP"))),
        )


@pytest.fixture(autouse=True)
def no_agreements(net: Network) -> Iterator[None]:
    """Each test starts, and leaves, without agreements."""
    yield
    _, _, found = net.hub.admin("GET", "/agreements")
    for agreement in found:
        net.hub.admin("DELETE", f"/agreements/{agreement['id']}")


def party(key: tuple[str, str]) -> dict[str, str]:
    return {"country_code": key[0], "party_id": key[1]}


def agree(
    hub: InProcessHub, cpo: tuple[str, str], partner: tuple[str, str], *modules: str
) -> dict[str, Any]:
    body: dict[str, Any] = {"cpo": party(cpo), "partner": party(partner)}
    if modules:
        body["modules"] = list(modules)
    status, _, answer = hub.admin("POST", "/agreements", body)
    assert status == 201, answer
    return dict(answer)


def ok(result: tuple[int, dict[str, str], Any]) -> Any:
    status, _, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return answer


# --- the admin API ----------------------------------------------------------------------


def test_an_agreement_is_added_listed_found_and_removed(net: Network) -> None:
    made = agree(net.hub, CPA, EMA, "tariffs", "locations")
    assert made["cpo"] == party(CPA) and made["partner"] == party(EMA)
    assert made["modules"] == ["locations", "tariffs"]
    status, _, again = net.hub.admin(
        "POST",
        "/agreements",
        {"cpo": party(CPA), "partner": party(EMA), "modules": ["locations", "tariffs"]},
    )
    assert status == 409 and made["id"] in again["error"]
    everything = agree(net.hub, CPB, EMA)
    assert everything["modules"] is None
    _, _, listed = net.hub.admin("GET", "/agreements?party=AG:CPB")
    assert [a["id"] for a in listed] == [everything["id"]]
    _, _, listed = net.hub.admin("GET", "/agreements?party=ag:ema")
    assert {a["id"] for a in listed} == {made["id"], everything["id"]}
    assert net.hub.admin("GET", f"/agreements/{made['id']}")[2] == made
    assert net.hub.admin("DELETE", f"/agreements/{made['id']}")[0] == 200
    assert net.hub.admin("GET", f"/agreements/{made['id']}")[0] == 404
    assert net.hub.admin("DELETE", f"/agreements/{made['id']}")[0] == 404


def test_an_agreement_may_allow_extensions_beside_one_that_does_not(net: Network) -> None:
    plain = agree(net.hub, CPA, EMA)
    assert plain["extensions"] is False
    body = {"cpo": party(CPA), "partner": party(EMA), "extensions": True}
    status, _, extended = net.hub.admin("POST", "/agreements", body)
    assert status == 201, extended
    assert extended["extensions"] is True and extended["id"] != plain["id"]
    assert net.hub.admin("GET", f"/agreements/{extended['id']}")[2] == extended
    status, _, again = net.hub.admin("POST", "/agreements", body)
    assert status == 409 and extended["id"] in again["error"]
    status, _, again = net.hub.admin("POST", "/agreements", {**body, "extensions": False})
    assert status == 409 and plain["id"] in again["error"], "false is the default"
    _, _, listed = net.hub.admin("GET", "/agreements?party=AG:EMA")
    assert {a["id"]: a["extensions"] for a in listed} == {
        plain["id"]: False,
        extended["id"]: True,
    }
    # Ending the one with extensions leaves the pair its agreement: nothing queued is parked.
    status, _, ended = net.hub.admin("DELETE", f"/agreements/{extended['id']}")
    assert (status, ended) == (200, extended)
    assert [a["id"] for a in net.hub.admin("GET", "/agreements")[2]] == [plain["id"]]


def test_extensions_is_a_bool_and_imports_carry_it(net: Network) -> None:
    status, _, answer = net.hub.admin(
        "POST", "/agreements", {"cpo": party(CPA), "partner": party(EMA), "extensions": "yes"}
    )
    assert status == 400 and "extensions" in answer["error"], answer
    bodies = [
        {"cpo": party(CPA), "partner": party(EMA), "extensions": True},
        {"cpo": party(CPA), "partner": party(EMA)},
        {"cpo": party(CPB), "partner": party(EMB), "extensions": "true"},
    ]
    status, _, refused = net.hub.admin("POST", "/agreements/import", bodies)
    assert status == 400 and "[2].extensions" in refused["error"], refused
    assert net.hub.admin("GET", "/agreements")[2] == []
    status, _, imported = net.hub.admin("POST", "/agreements/import", bodies[:2])
    assert status == 200, imported
    assert (imported["created"], imported["existing"]) == (2, 0)
    assert [a["extensions"] for a in imported["agreements"]] == [True, False]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"cpo": party(("AG", "ZZZ")), "partner": party(EMA)}, "cpo"),
        ({"cpo": party(EMA), "partner": party(CPA)}, "cpo"),
        ({"cpo": party(CPA), "partner": party(CPB)}, "partner"),
        ({"cpo": party(CPA), "partner": party(("AG", "ZZZ"))}, "partner"),
        ({"cpo": party(CPA), "partner": party(EMA), "modules": ["credentials"]}, "modules"),
        ({"cpo": party(CPA), "partner": party(EMA), "modules": []}, "modules"),
        ({"cpo": party(CPA)}, "partner"),
        ({"cpo": {"country_code": "AGX", "party_id": "CPA"}, "partner": party(EMA)}, "cpo"),
    ],
)
def test_a_wrong_agreement_is_400_naming_the_field(
    net: Network, body: dict[str, Any], field: str
) -> None:
    status, _, answer = net.hub.admin("POST", "/agreements", body)
    assert status == 400, answer
    assert field in answer["error"]
    assert net.hub.admin("GET", "/agreements")[2] == []


def test_an_import_is_idempotent_and_checked_whole(net: Network) -> None:
    bodies = [
        {"cpo": party(CPA), "partner": party(EMA)},
        {"cpo": party(CPB), "partner": party(EMA), "modules": ["locations"]},
    ]
    status, _, first = net.hub.admin("POST", "/agreements/import", bodies)
    assert status == 200, first
    assert (first["created"], first["existing"]) == (2, 0)
    status, _, second = net.hub.admin("POST", "/agreements/import", bodies)
    assert (second["created"], second["existing"]) == (0, 2)
    assert {a["id"] for a in second["agreements"]} == {a["id"] for a in first["agreements"]}
    status, _, refused = net.hub.admin(
        "POST", "/agreements/import", [*bodies, {"cpo": party(EMA), "partner": party(CPA)}]
    )
    assert status == 400 and "[2].cpo" in refused["error"]
    assert len(net.hub.admin("GET", "/agreements")[2]) == 2


# --- routing under --agreements required -------------------------------------------------


def test_a_direct_call_needs_an_agreement_covering_its_module(net: Network) -> None:
    path = f"{V}/receiver/sessions/AG/CPA/S-1"
    status, _, answer = net.cpa.call("PUT", path, body=session(CPA, "S-1", EMA), to=EMA)
    assert (status, answer["status_code"]) == (404, 4001)
    assert "AG/CPA" in answer["status_message"] and "AG/EMA" in answer["status_message"]
    assert "sessions" in answer["status_message"]
    assert net.ema.received(path="/ocpi/2.2.1/sessions/receiver/AG/CPA/S-1") == []
    agree(net.hub, CPA, EMA, "locations")
    status, _, answer = net.cpa.call("PUT", path, body=session(CPA, "S-1", EMA), to=EMA)
    assert (status, answer["status_code"]) == (404, 4001), "locations only"
    agree(net.hub, CPA, EMA, "sessions")
    ok(net.cpa.call("PUT", path, body=session(CPA, "S-1", EMA), to=EMA))
    assert len(net.ema.received(path="/ocpi/2.2.1/sessions/receiver/AG/CPA/S-1")) == 1


def test_a_broadcast_reaches_only_partners_and_get_all_shows_only_theirs(net: Network) -> None:
    agree(net.hub, CPA, EMA, "locations")
    ok(
        net.cpa.call(
            "PUT", f"{V}/receiver/locations/AG/CPA/L-B1", body=location(CPA, "L-B1"), to=HUB
        )
    )
    # Without any partner the push is still kept and answered 1000.
    ok(
        net.cpb.call(
            "PUT", f"{V}/receiver/locations/AG/CPB/L-B2", body=location(CPB, "L-B2"), to=HUB
        )
    )
    wait_for(lambda: net.ema.received(path="/ocpi/2.2.1/locations/receiver/AG/CPA/L-B1"), "EMA")
    assert net.emb.received(path="/ocpi/2.2.1/locations/receiver/AG/CPA/L-B1") == []
    assert net.ema.received(path="/ocpi/2.2.1/locations/receiver/AG/CPB/L-B2") == []

    seen = ok(net.ema.call("GET", f"{V}/sender/locations", to=HUB))["data"]
    assert {loc["id"] for loc in seen} == {"L-B1"}
    assert ok(net.emb.call("GET", f"{V}/sender/locations", to=HUB))["data"] == []
    status, _, answer = net.emb.call("GET", f"{V}/sender/locations/L-B1", to=HUB)
    assert (status, answer["status_code"]) == (404, 2003), "as if it did not exist"
    assert ok(net.ema.call("GET", f"{V}/sender/locations/L-B1", to=HUB))["data"]["id"] == "L-B1"


def test_open_routing_considers_only_partners(net: Network) -> None:
    agree(net.hub, CPA, EMA, "tokens")
    ok(net.ema.call("PUT", f"{V}/receiver/tokens/AG/EMA/T-OPEN", body=token(EMA, "T-OPEN"), to=HUB))
    # Authorization of EMA's token: EMA is CPA's partner, but not CPB's.
    path = f"{V}/sender/tokens/T-OPEN/authorize?type=RFID"
    status, _, answer = net.cpb.call("POST", path, body={"location_id": "L-1"})
    assert (status, answer["status_code"]) == (404, 4001), answer
    status, _, answer = net.cpa.call("POST", path, body={"location_id": "L-1"})
    assert status == 200, answer
    assert net.ema.received("POST", "/ocpi/2.2.1/tokens/sender/T-OPEN/authorize")


def test_a_new_partner_starts_complete_and_an_ended_one_gets_nothing_more(
    net: Network,
) -> None:
    ok(
        net.cpb.call(
            "PUT", f"{V}/receiver/locations/AG/CPB/L-S1", body=location(CPB, "L-S1"), to=HUB
        )
    )
    ok(net.emb.call("PUT", f"{V}/receiver/tokens/AG/EMB/T-S1", body=token(EMB, "T-S1"), to=HUB))
    assert net.emb.received(path="/ocpi/2.2.1/locations/receiver/AG/CPB/L-S1") == []
    made = agree(net.hub, CPB, EMB)
    wait_for(lambda: net.emb.received(path="/ocpi/2.2.1/locations/receiver/AG/CPB/L-S1"), "sync")
    wait_for(lambda: net.cpb.received(path="/ocpi/2.2.1/tokens/receiver/AG/EMB/T-S1"), "sync")
    # HubClientInfo: each side is told of the other.
    wait_for(
        lambda: net.emb.received("PUT", "/ocpi/2.2.1/hubclientinfo/receiver/AG/CPB"),
        "EMB to hear of CPB",
    )

    # The receiver stops answering; what is queued meanwhile is parked when the agreement ends.
    net.emb.fake.responder = lambda request: (
        (503, {"status_code": 3000}) if "/locations/" in request.path else None
    )
    try:
        ok(
            net.cpb.call(
                "PUT", f"{V}/receiver/locations/AG/CPB/L-S2", body=location(CPB, "L-S2"), to=HUB
            )
        )
        assert net.hub.admin("DELETE", f"/agreements/{made['id']}")[0] == 200

        def parked() -> list[Any]:
            _, _, letters = net.hub.admin("GET", f"/dead-letters?platform={net.emb.id}")
            return [d for d in letters if d["reason"] == "agreement ended"]

        wait_for(parked, "the queued push to be parked")
        tried = len(net.emb.received(path="/ocpi/2.2.1/locations/receiver/AG/CPB/L-S2"))
    finally:
        net.emb.fake.responder = None
    # Parked, it is never tried again (retries come every 0.5 s at most).
    time.sleep(1.5)
    assert len(net.emb.received(path="/ocpi/2.2.1/locations/receiver/AG/CPB/L-S2")) == tried
    wait_for(
        lambda: [
            r
            for r in net.emb.received("PUT", "/ocpi/2.2.1/hubclientinfo/receiver/AG/CPB")
            if r.body["status"] == "SUSPENDED"
        ],
        "EMB to hear that CPB is SUSPENDED for it",
    )


def test_hubclientinfo_lists_only_partners(net: Network) -> None:
    agree(net.hub, CPA, EMB, "cdrs")
    listed = ok(net.emb.call("GET", f"{V}/hubclientinfo"))["data"]
    parties = {(i["country_code"], i["party_id"]) for i in listed}
    assert CPA in parties
    assert CPB not in parties and EMA not in parties


# --- agreements off: nothing changes ------------------------------------------------------


def test_with_agreements_off_they_are_kept_but_decide_nothing(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data") as hub, ExitStack() as stack:
        cpo = stack.enter_context(member(hub, ("AO", "CPO", "CPO")))
        emsp = stack.enter_context(member(hub, ("AO", "EMS", "EMSP")))
        status, _, answer = cpo.call(
            "PUT",
            f"{V}/receiver/sessions/AO/CPO/S-1",
            body=session(("AO", "CPO"), "S-1", ("AO", "EMS")),
            to=emsp.party,
        )
        assert (status, answer["status_code"]) == (200, 1000)
        agree_off = {"cpo": party(("AO", "CPO")), "partner": party(("AO", "EMS"))}
        assert hub.admin("POST", "/agreements", agree_off)[0] == 201


def test_a_token_uid_of_two_emsps_goes_to_the_partner_or_is_4001_naming_both(
    net: Network,
) -> None:
    for emsp, key in ((net.ema, EMA), (net.emb, EMB)):
        ok(
            emsp.call(
                "PUT",
                f"{V}/receiver/tokens/{key[0]}/{key[1]}/T-TWO",
                body=token(key, "T-TWO"),
                to=HUB,
            )
        )
    path = f"{V}/sender/tokens/T-TWO/authorize?type=RFID"
    agree(net.hub, CPA, EMB, "tokens")
    status, _, answer = net.cpa.call("POST", path, body={"location_id": "L-1"})
    assert status == 200, answer
    assert net.emb.received("POST", "/ocpi/2.2.1/tokens/sender/T-TWO/authorize")
    assert not net.ema.received("POST", "/ocpi/2.2.1/tokens/sender/T-TWO/authorize")
    agree(net.hub, CPA, EMA, "tokens")
    status, _, answer = net.cpa.call("POST", path, body={"location_id": "L-1"})
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert "AG/EMA" in answer["status_message"] and "AG/EMB" in answer["status_message"]


def test_a_command_result_still_arrives_after_the_agreement_ends(net: Network) -> None:
    made = agree(net.hub, CPA, EMA, "commands")
    original = f"{net.ema.fake.base_url}/ocpi/2.2.1/commands/sender/START/1"
    body = {
        "response_url": original,
        "token": token(EMA, "T-CMD"),
        "location_id": "L-CMD",
        "authorization_reference": "ref-1",
    }
    net.cpa.fake.responder = command_response
    try:
        ok(net.ema.call("POST", f"{V}/receiver/commands/START_SESSION", body=body, to=CPA))
    finally:
        net.cpa.fake.responder = None
    hub_url = net.cpa.received("POST", "/ocpi/2.2.1/commands/receiver/START_SESSION")[-1].body[
        "response_url"
    ]
    assert net.hub.admin("DELETE", f"/agreements/{made['id']}")[0] == 200
    # A new command is refused now, but the result of the one that was allowed gets through.
    status, _, answer = net.ema.call(
        "POST", f"{V}/receiver/commands/START_SESSION", body=body, to=CPA
    )
    assert (status, answer["status_code"]) == (404, 4001)
    ok(net.cpa.call("POST", hub_url, body={"result": "ACCEPTED"}))
    assert net.ema.received("POST", "/ocpi/2.2.1/commands/sender/START/1")
