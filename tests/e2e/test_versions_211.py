"""OCPI 2.1.1 and 2.2.1 platforms on one hub, end to end (README: "OCPI 2.1.1 platforms").

A 2.1.1 CPO (registers itself), a 2.1.1 eMSP (the hub registers at it), a 2.2.1 CPO and a 2.2.1
eMSP, each a real OCPI server on loopback, under ``--agreements required`` with every CPO a
partner of every eMSP. Each test checks what the receiver of the other version got, field by
field where the versions differ, and what came back to the sender.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.client import HttpResult
from tests.e2e.expect import ok, one
from tests.e2e.network import Member, member
from tests.e2e.objects import cdr, command_response, location, session, token
from tests.e2e.test_operations import scrape, value
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import FakePlatform, RecordedRequest
from tests.translate.test_cdrs import CDR_211

EXAMPLES = Path(__file__).parent.parent / "examples" / "2.1.1"
V2 = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CP1, EM1, CP2, EM2 = ("BE", "CP1"), ("BE", "EM1"), ("NL", "CP2"), ("NL", "EM2")
NOW = "2026-11-24T10:00:00Z"


def example(name: str) -> dict[str, Any]:
    found = json.loads((EXAMPLES / name).read_text())
    assert isinstance(found, dict)
    return found


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data, "status_code": 1000, "timestamp": NOW}


def answers(request: RecordedRequest) -> tuple[Any, ...] | None:
    """What the fake platforms answer: command responses (2.1.1 and 2.2.1) and real-time
    authorizations (2.1.1 and 2.2.1)."""
    path = request.path
    if path.startswith("/ocpi/2.1.1/commands/"):
        return 200, envelope({"result": "ACCEPTED"})
    if path.startswith("/ocpi/2.1.1/tokens/") and path.endswith("/authorize"):
        return 200, envelope({"allowed": "ALLOWED"})
    if path.startswith("/ocpi/2.2.1/tokens/sender/") and path.endswith("/authorize"):
        return 200, envelope({"allowed": "ALLOWED", "token": token(EM2, "EM2-TOKEN")})
    return command_response(request)


@dataclass
class Network:
    hub: InProcessHub
    cp1: FakePlatform
    em1: FakePlatform
    cp2: Member
    em2: Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    data = tmp_path_factory.mktemp("versions") / "data"
    settings = {"agreements": "required", "retry_base": 0.1, "retry_max": 0.5}
    with own_hub(data, **settings) as hub, ExitStack() as stack:
        # The 2.1.1 CPO registers itself with token A.
        created = hub.add_platform("CP1", (*CP1, "CPO"))
        cp1 = stack.enter_context(
            FakePlatform(roles=[(*CP1, "CPO")], version="2.1.1", responder=answers)
        )
        status, answer = cp1.register(hub.versions_url, created["token_a"])
        assert status == 200, answer
        # The hub registers at the 2.1.1 eMSP with the eMSP's token A.
        created = hub.add_platform("EM1", (*EM1, "EMSP"))
        em1 = stack.enter_context(
            FakePlatform(roles=[(*EM1, "EMSP")], version="2.1.1", responder=answers)
        )
        status, _, answer = hub.admin(
            "POST",
            f"/platforms/{created['id']}/connect",
            {"versions_url": em1.versions_url, "token": em1.token_a},
        )
        assert status == 200 and answer["version"] == "2.1.1", answer
        cp2 = stack.enter_context(member(hub, (*CP2, "CPO"), responder=answers))
        em2 = stack.enter_context(member(hub, (*EM2, "EMSP"), responder=answers))
        for cpo in (CP1, CP2):
            for emsp in (EM1, EM2):
                body = {
                    "cpo": {"country_code": cpo[0], "party_id": cpo[1]},
                    "partner": {"country_code": emsp[0], "party_id": emsp[1]},
                }
                status, _, answer = hub.admin("POST", "/agreements", body)
                assert status == 201, answer
        yield Network(hub, cp1, em1, cp2, em2)


def call211(
    platform: FakePlatform, hub: InProcessHub, method: str, path: str, body: Any = None
) -> HttpResult:
    """Call the hub as a 2.1.1 platform: raw token, no routing or id headers."""
    return platform.call(method, f"{hub.url}/ocpi/2.1.1/{path}", body=body)


def location_211(location_id: str) -> dict[str, Any]:
    found = example("location_example.json")
    found["id"] = location_id
    found["time_zone"] = "Europe/Brussels"
    return found


# --- locations and tariffs ------------------------------------------------------------------


def test_a_211_cpo_location_reaches_both_versions(net: Network) -> None:
    pushed = location_211("LOC-A")
    ok(call211(net.cp1, net.hub, "PUT", "locations/BE/CP1/LOC-A", pushed))
    # The 2.1.1 eMSP gets the very bytes; the 2.2.1 eMSP a 2.2.1 Location.
    down = one(net.em1, "PUT", "/ocpi/2.1.1/locations/BE/CP1/LOC-A")
    assert down.body == pushed
    assert not {"ocpi-to-party-id", "ocpi-from-party-id"} & set(down.headers)
    up = one(net.em2.fake, "PUT", f"{V2}/locations/receiver/BE/CP1/LOC-A")
    assert (up.body["country_code"], up.body["party_id"], up.body["publish"]) == ("BE", "CP1", True)
    assert up.body["parking_type"] == "ON_STREET" and "type" not in up.body
    connector = up.body["evses"][0]["connectors"][0]
    assert connector["max_voltage"] == 220 and connector["tariff_ids"] == ["11"]
    assert up.headers["ocpi-from-party-id"] == "HUB"

    # An EVSE status change: a PATCH, with last_updated added going up (2.2.1 requires it).
    ok(call211(net.cp1, net.hub, "PATCH", "locations/BE/CP1/LOC-A/3256", {"status": "CHARGING"}))
    assert one(net.em1, "PATCH", "/ocpi/2.1.1/locations/BE/CP1/LOC-A/3256").body == {
        "status": "CHARGING"
    }
    patched = one(net.em2.fake, "PATCH", f"{V2}/locations/receiver/BE/CP1/LOC-A/3256").body
    assert patched["status"] == "CHARGING" and "last_updated" in patched


def test_a_221_cpo_location_reaches_the_211_emsp_in_211(net: Network) -> None:
    pushed = location(CP2, "LOC-B")
    pushed["parking_type"] = "ON_STREET"
    hidden = location(CP2, "LOC-HIDDEN") | {"publish": False}
    ok(net.cp2.call("PUT", f"{V2}/receiver/locations/NL/CP2/LOC-B", body=pushed, to=HUB))
    ok(net.cp2.call("PUT", f"{V2}/receiver/locations/NL/CP2/LOC-HIDDEN", body=hidden, to=HUB))
    down = one(net.em1, "PUT", "/ocpi/2.1.1/locations/NL/CP2/LOC-B").body
    assert "country_code" not in down and "publish" not in down
    assert down["type"] == "ON_STREET" and down["id"] == "LOC-B"
    assert one(net.em2.fake, "PUT", f"{V2}/locations/receiver/NL/CP2/LOC-HIDDEN").body == hidden
    # publish=false never reaches a 2.1.1 platform, which cannot restrict who sees it.
    assert not net.em1.find_requests("PUT", "/ocpi/2.1.1/locations/NL/CP2/LOC-HIDDEN")


def test_tariffs_reach_both_versions(net: Network) -> None:
    tariff = example("tariff_1_simple_2hour.json") | {"id": "T-1"}
    ok(call211(net.cp1, net.hub, "PUT", "tariffs/BE/CP1/T-1", tariff))
    assert one(net.em1, "PUT", "/ocpi/2.1.1/tariffs/BE/CP1/T-1").body == tariff
    up = one(net.em2.fake, "PUT", f"{V2}/tariffs/receiver/BE/CP1/T-1").body
    assert (up["country_code"], up["party_id"], up["id"]) == ("BE", "CP1", "T-1")


def test_get_all_from_each_version(net: Network) -> None:
    ok(call211(net.cp1, net.hub, "PUT", "locations/BE/CP1/LOC-G1", location_211("LOC-G1")))
    ok(
        net.cp2.call(
            "PUT", f"{V2}/receiver/locations/NL/CP2/LOC-G2", body=location(CP2, "LOC-G2"), to=HUB
        )
    )
    listed = ok(call211(net.em1, net.hub, "GET", "locations?limit=100"))["data"]
    ids = {item["id"] for item in listed}
    assert {"LOC-G1", "LOC-G2"} <= ids
    assert all("country_code" not in item for item in listed)  # 2.1.1 Locations
    listed = ok(net.em2.call("GET", f"{V2}/sender/locations?limit=100", to=HUB))["data"]
    mine = {item["id"]: item for item in listed}
    assert mine["LOC-G1"]["party_id"] == "CP1" and mine["LOC-G1"]["publish"] is True


# --- tokens and real-time authorization --------------------------------------------------


def test_a_211_emsp_token_reaches_the_221_cpo(net: Network) -> None:
    pushed = example("token_example.json") | {"uid": "EM1-TOKEN", "auth_id": "BE-EM1-C1"}
    ok(call211(net.em1, net.hub, "PUT", "tokens/BE/EM1/EM1-TOKEN", pushed))
    up = one(net.cp2.fake, "PUT", f"{V2}/tokens/receiver/BE/EM1/EM1-TOKEN")
    assert up.query == "type=RFID"
    assert (up.body["contract_id"], up.body["party_id"]) == ("BE-EM1-C1", "EM1")
    assert one(net.cp1, "PUT", "/ocpi/2.1.1/tokens/BE/EM1/EM1-TOKEN").body == pushed
    # The 2.1.1 CPO pulls the tokens the hub keeps, in 2.1.1.
    listed = ok(call211(net.cp1, net.hub, "GET", "tokens?limit=100"))["data"]
    assert any(t["uid"] == "EM1-TOKEN" and t["auth_id"] == "BE-EM1-C1" for t in listed)


def test_real_time_authorization_each_way(net: Network) -> None:
    ok(
        net.em2.call(
            "PUT",
            f"{V2}/receiver/tokens/NL/EM2/EM2-TOKEN?type=RFID",
            body=token(EM2, "EM2-TOKEN"),
            to=HUB,
        )
    )
    answer = ok(call211(net.cp1, net.hub, "POST", "tokens/EM2-TOKEN/authorize"))
    assert answer["data"] == {"allowed": "ALLOWED"}
    pushed = example("token_example.json") | {"uid": "EM1-AUTH", "auth_id": "BE-EM1-C2"}
    ok(call211(net.em1, net.hub, "PUT", "tokens/BE/EM1/EM1-AUTH", pushed))
    answer = ok(net.cp2.call("POST", f"{V2}/sender/tokens/EM1-AUTH/authorize?type=RFID"))
    assert answer["data"]["allowed"] == "ALLOWED"
    assert answer["data"]["token"]["uid"] == "EM1-AUTH"
    assert one(net.em1, "POST", "/ocpi/2.1.1/tokens/EM1-AUTH/authorize").query == ""


# --- commands ----------------------------------------------------------------------------


def location_with_evse(cpo: tuple[str, str], location_id: str) -> dict[str, Any]:
    connector = {
        "id": "1",
        "standard": "IEC_62196_T2",
        "format": "SOCKET",
        "power_type": "AC_3_PHASE",
        "max_voltage": 230,
        "max_amperage": 16,
        "last_updated": NOW,
    }
    evse = {"uid": "EVSE-1", "status": "AVAILABLE", "connectors": [connector], "last_updated": NOW}
    return location(cpo, location_id) | {"evses": [evse], "parking_type": "ON_STREET"}


def test_start_session_from_a_221_emsp_at_a_211_cpo_and_its_result(net: Network) -> None:
    ok(call211(net.cp1, net.hub, "PUT", "locations/BE/CP1/LOC-C", location_211("LOC-C")))
    one(net.em2.fake, "PUT", f"{V2}/locations/receiver/BE/CP1/LOC-C")
    response_url = f"{net.em2.fake.base_url}{V2}/commands/sender/START_SESSION/c-1"
    request = {
        "response_url": response_url,
        "token": token(EM2, "EM2-CMD"),
        "location_id": "LOC-C",
        "evse_uid": "3256",
    }
    answer = ok(net.em2.call("POST", f"{V2}/receiver/commands/START_SESSION", body=request))
    assert answer["data"]["result"] == "ACCEPTED" and answer["data"]["timeout"] > 0
    sent = one(net.cp1, "POST", "/ocpi/2.1.1/commands/START_SESSION").body
    assert sent["location_id"] == "LOC-C" and "country_code" not in sent["token"]
    assert sent["token"]["auth_id"] == token(EM2, "EM2-CMD")["contract_id"]
    assert sent["response_url"].startswith(net.hub.url)
    # The 2.1.1 CPO's asynchronous CommandResponse becomes the eMSP's CommandResult.
    ok(net.cp1.call("POST", sent["response_url"], body={"result": "ACCEPTED"}))
    assert one(net.em2.fake, "POST", "/ocpi/2.2.1/commands/sender/START_SESSION/c-1").body == {
        "result": "ACCEPTED"
    }


def test_start_session_from_a_211_emsp_at_a_221_cpo_and_its_result(net: Network) -> None:
    ok(
        net.cp2.call(
            "PUT",
            f"{V2}/receiver/locations/NL/CP2/LOC-D",
            body=location_with_evse(CP2, "LOC-D"),
            to=HUB,
        )
    )
    one(net.em1, "PUT", "/ocpi/2.1.1/locations/NL/CP2/LOC-D")
    response_url = f"{net.em1.base_url}/ocpi/2.1.1/commands/START_SESSION-d-1"
    token_211 = example("token_example.json") | {"uid": "EM1-CMD", "auth_id": "BE-EM1-C9"}
    request = {
        "response_url": response_url,
        "token": token_211,
        "location_id": "LOC-D",
        "evse_uid": "EVSE-1",
    }
    answer = ok(call211(net.em1, net.hub, "POST", "commands/START_SESSION", request))
    assert answer["data"] == {"result": "ACCEPTED"}  # 2.1.1: no timeout
    sent = one(net.cp2.fake, "POST", f"{V2}/commands/receiver/START_SESSION")
    assert (sent.body["token"]["country_code"], sent.body["token"]["party_id"]) == EM1
    assert sent.body["token"]["contract_id"] == "BE-EM1-C9"
    result = {"result": "ACCEPTED"}
    ok(net.cp2.call("POST", sent.body["response_url"], body=result))
    assert one(net.em1, "POST", "/ocpi/2.1.1/commands/START_SESSION-d-1").body == {
        "result": "ACCEPTED"
    }


# --- sessions and CDRs ---------------------------------------------------------------------


def test_a_211_session_and_cdr_reach_the_221_emsp_and_can_be_pulled_again(net: Network) -> None:
    emsp_token = token(EM2, "EM2-SESSION") | {"contract_id": "NL-EM2-S1"}
    ok(
        net.em2.call(
            "PUT", f"{V2}/receiver/tokens/NL/EM2/EM2-SESSION?type=RFID", body=emsp_token, to=HUB
        )
    )
    pushed = example("session_example_1_simple_start.json") | {
        "id": "S-211",
        "auth_id": "NL-EM2-S1",
    }
    ok(call211(net.cp1, net.hub, "PUT", "sessions/BE/CP1/S-211", pushed))
    up = one(net.em2.fake, "PUT", f"{V2}/sessions/receiver/BE/CP1/S-211").body
    assert up["cdr_token"]["uid"] == "EM2-SESSION" and up["cdr_token"]["party_id"] == "EM2"
    assert (up["location_id"], up["evse_uid"], up["connector_id"]) == ("LOC1", "3256", "1")
    # STOP_SESSION from the 2.2.1 eMSP reaches the 2.1.1 CPO of the session.
    stop = {
        "response_url": f"{net.em2.fake.base_url}{V2}/commands/sender/STOP/s-1",
        "session_id": "S-211",
    }
    ok(net.em2.call("POST", f"{V2}/receiver/commands/STOP_SESSION", body=stop))
    assert one(net.cp1, "POST", "/ocpi/2.1.1/commands/STOP_SESSION").body["session_id"] == "S-211"

    cdr = copy.deepcopy(CDR_211) | {"id": "CDR-211", "auth_id": "NL-EM2-S1"}
    ok(call211(net.cp1, net.hub, "POST", "cdrs", cdr))
    got = one(net.em2.fake, "POST", f"{V2}/cdrs/receiver").body
    assert got["id"] == "CDR-211" and got["cdr_token"]["contract_id"] == "NL-EM2-S1"
    # The hub kept both for the eMSP, which pulls them from the hub.
    sessions = ok(net.em2.call("GET", f"{V2}/sender/sessions?limit=100", to=HUB))["data"]
    assert [s["id"] for s in sessions if s["id"] == "S-211"] == ["S-211"]
    cdrs = ok(net.em2.call("GET", f"{V2}/sender/cdrs?limit=100", to=HUB))["data"]
    assert [c["id"] for c in cdrs if c["id"] == "CDR-211"] == ["CDR-211"]


def test_a_221_session_reaches_the_211_emsp_and_can_be_pulled_again(net: Network) -> None:
    ok(
        net.cp2.call(
            "PUT",
            f"{V2}/receiver/locations/NL/CP2/LOC-1",
            body=location_with_evse(CP2, "LOC-1"),
            to=HUB,
        )
    )
    pushed = session(CP2, "S-221", EM1)
    ok(net.cp2.call("PUT", f"{V2}/receiver/sessions/NL/CP2/S-221", body=pushed, to=EM1))
    down = one(net.em1, "PUT", "/ocpi/2.1.1/sessions/NL/CP2/S-221").body
    assert down["auth_id"] == pushed["cdr_token"]["contract_id"]
    assert down["location"]["id"] == "LOC-1" and down["location"]["evses"][0]["uid"] == "EVSE-1"
    ok(net.cp2.call("POST", f"{V2}/receiver/cdrs", body=cdr(CP2, "CDR-221", EM1), to=EM1))
    assert one(net.em1, "POST", "/ocpi/2.1.1/cdrs").body["id"] == "CDR-221"
    listed = ok(call211(net.em1, net.hub, "GET", "sessions?limit=100"))["data"]
    assert [s["auth_id"] for s in listed if s["id"] == "S-221"] == [down["auth_id"]]
    listed = ok(call211(net.em1, net.hub, "GET", "cdrs?limit=100"))["data"]
    assert [c["id"] for c in listed if c["id"] == "CDR-221"] == ["CDR-221"]


def test_an_unroutable_211_cdr_is_kept_for_the_operator(net: Network) -> None:
    cdr = copy.deepcopy(CDR_211) | {"id": "CDR-LOST", "auth_id": "NOBODY-KNOWS"}
    ok(call211(net.cp1, net.hub, "POST", "cdrs", cdr))
    status, _, found = net.hub.admin("GET", "/unrouted")
    assert status == 200
    assert any(item["object_id"] == "CDR-LOST" for item in found), found


def test_a_221_tariff_and_the_next_page_of_a_211_list(net: Network) -> None:
    tariff = {
        "country_code": "NL",
        "party_id": "CP2",
        "id": "T-2",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
        "last_updated": NOW,
    }
    ok(net.cp2.call("PUT", f"{V2}/receiver/tariffs/NL/CP2/T-2", body=tariff, to=HUB))
    down = one(net.em1, "PUT", "/ocpi/2.1.1/tariffs/NL/CP2/T-2").body
    assert "country_code" not in down and down["elements"] == tariff["elements"]
    # A list the hub serves a 2.1.1 eMSP points to its next page on the 2.1.1 URL.
    ok(
        call211(
            net.cp1,
            net.hub,
            "PUT",
            "tariffs/BE/CP1/T-3",
            example("tariff_2_alt_text.json") | {"id": "T-3"},
        )
    )
    status, headers, first = call211(net.em1, net.hub, "GET", "tariffs?limit=1")
    assert status == 200 and len(first["data"]) == 1
    assert headers["link"] == f'<{net.hub.url}/ocpi/2.1.1/tariffs?limit=1&offset=1>; rel="next"'
    second = ok(net.em1.call("GET", headers["link"][1:].split(">")[0]))["data"]
    assert len(second) == 1 and second[0]["id"] != first["data"][0]["id"]


def test_stop_session_across_versions_with_its_results(net: Network) -> None:
    # A 2.1.1 eMSP stops a session at a 2.2.1 CPO: the CPO of the session, from the hub's
    # memory of it.
    ok(
        net.cp2.call(
            "PUT",
            f"{V2}/receiver/locations/NL/CP2/LOC-1",
            body=location_with_evse(CP2, "LOC-1"),
            to=HUB,
        )
    )
    ok(
        net.cp2.call(
            "PUT", f"{V2}/receiver/sessions/NL/CP2/S-STOP", body=session(CP2, "S-STOP", EM1), to=EM1
        )
    )
    response_url = f"{net.em1.base_url}/ocpi/2.1.1/commands/STOP-1"
    request = {"response_url": response_url, "session_id": "S-STOP"}
    answer = ok(call211(net.em1, net.hub, "POST", "commands/STOP_SESSION", request))
    assert answer["data"] == {"result": "ACCEPTED"}
    sent = one(net.cp2.fake, "POST", f"{V2}/commands/receiver/STOP_SESSION").body
    assert sent["session_id"] == "S-STOP" and sent["response_url"].startswith(net.hub.url)
    ok(net.cp2.call("POST", sent["response_url"], body={"result": "REJECTED"}))
    assert one(net.em1, "POST", "/ocpi/2.1.1/commands/STOP-1").body == {"result": "REJECTED"}

    # A 2.2.1 eMSP stops a 2.1.1 CPO's session; the CPO's late answer is the eMSP's result.
    emsp_token = token(EM2, "EM2-STOP") | {"contract_id": "NL-EM2-STOP"}
    ok(
        net.em2.call(
            "PUT", f"{V2}/receiver/tokens/NL/EM2/EM2-STOP?type=RFID", body=emsp_token, to=HUB
        )
    )
    pushed = example("session_example_1_simple_start.json") | {
        "id": "S-STOP-1",
        "auth_id": "NL-EM2-STOP",
    }
    ok(call211(net.cp1, net.hub, "PUT", "sessions/BE/CP1/S-STOP-1", pushed))
    stop = {
        "response_url": f"{net.em2.fake.base_url}{V2}/commands/sender/STOP/s-2",
        "session_id": "S-STOP-1",
    }
    answer = ok(net.em2.call("POST", f"{V2}/receiver/commands/STOP_SESSION", body=stop))
    assert answer["data"]["result"] == "ACCEPTED" and answer["data"]["timeout"] > 0
    (sent,) = [
        r.body
        for r in net.cp1.find_requests("POST", "/ocpi/2.1.1/commands/STOP_SESSION")
        if r.body["session_id"] == "S-STOP-1"
    ]
    ok(net.cp1.call("POST", sent["response_url"], body={"result": "ACCEPTED"}))
    assert one(net.em2.fake, "POST", f"{V2}/commands/sender/STOP/s-2").body == {
        "result": "ACCEPTED"
    }


def test_a_version_switch_changes_what_the_platform_gets(net: Network) -> None:
    """An eMSP on 2.2.1 switches to 2.1.1 with a credentials PUT on the hub's 2.1.1 URL: the
    broadcasts after it come in 2.1.1, on its 2.1.1 endpoints, without routing headers."""
    created = net.hub.add_platform("EM3", ("NL", "EM3", "EMSP"))
    with FakePlatform(roles=[("NL", "EM3", "EMSP")], versions=["2.2.1", "2.1.1"]) as em3:
        status, answer = em3.register(net.hub.versions_url, created["token_a"])
        assert status == 200, answer
        body = {
            "cpo": {"country_code": "NL", "party_id": "CP2"},
            "partner": {"country_code": "NL", "party_id": "EM3"},
        }
        assert net.hub.admin("POST", "/agreements", body)[0] == 201
        pushed = location(CP2, "LOC-S1") | {"parking_type": "ON_STREET"}
        ok(net.cp2.call("PUT", f"{V2}/receiver/locations/NL/CP2/LOC-S1", body=pushed, to=HUB))
        assert one(em3, "PUT", f"{V2}/locations/receiver/NL/CP2/LOC-S1").body == pushed

        status, answer = em3.update_credentials("2.1.1")
        assert (status, answer["status_code"]) == (200, 1000), answer
        assert net.hub.platform(created["id"])["version"] == "2.1.1"
        pushed = location(CP2, "LOC-S2") | {"parking_type": "ON_STREET"}
        ok(net.cp2.call("PUT", f"{V2}/receiver/locations/NL/CP2/LOC-S2", body=pushed, to=HUB))
        got = one(em3, "PUT", "/ocpi/2.1.1/locations/NL/CP2/LOC-S2")
        assert "publish" not in got.body and got.body["type"] == "ON_STREET"
        assert "ocpi-to-party-id" not in got.headers


def test_translations_are_counted_per_module_and_direction(net: Network) -> None:
    before = value(
        scrape(f"{net.hub.url}/metrics"),
        "ocpi_hub_translated_total",
        module="tariffs",
        version="2.1.1",
        direction="up",
        outcome="ok",
    )
    ok(
        call211(
            net.cp1,
            net.hub,
            "PUT",
            "tariffs/BE/CP1/T-M",
            example("tariff_5_free_of_charge.json") | {"id": "T-M"},
        )
    )
    after = value(
        scrape(f"{net.hub.url}/metrics"),
        "ocpi_hub_translated_total",
        module="tariffs",
        version="2.1.1",
        direction="up",
        outcome="ok",
    )
    assert after == before + 1


def test_ocpi_to_from_a_211_platform_is_honoured(net: Network) -> None:
    """A 2.1.1 CPO that names its receiver gets a direct call, not a broadcast."""
    pushed = location_211("LOC-TO")
    status, _, answer = net.cp1.call(
        "PUT",
        f"{net.hub.url}/ocpi/2.1.1/locations/BE/CP1/LOC-TO",
        body=pushed,
        headers={"OCPI-to-country-code": "NL", "OCPI-to-party-id": "EM2"},
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    up = one(net.em2.fake, "PUT", f"{V2}/locations/receiver/BE/CP1/LOC-TO").body
    assert up["party_id"] == "CP1" and up["time_zone"] == "Europe/Brussels"
    assert not net.em1.find_requests("PUT", "/ocpi/2.1.1/locations/BE/CP1/LOC-TO")


def test_session_patches_with_charging_periods_both_ways(net: Network) -> None:
    """2.1.1 PATCH replaces charging_periods, 2.2.1 PATCH appends them: the hub reconciles
    them with the session it kept for the eMSP."""
    period = {"start_date_time": NOW, "dimensions": [{"type": "ENERGY", "volume": 1}]}
    later = {
        "start_date_time": "2026-11-24T10:30:00Z",
        "dimensions": [{"type": "ENERGY", "volume": 2}],
    }
    # 2.2.1 CPO -> 2.1.1 eMSP: the appended period arrives as the whole list.
    ok(
        net.cp2.call(
            "PUT",
            f"{V2}/receiver/locations/NL/CP2/LOC-1",
            body=location_with_evse(CP2, "LOC-1"),
            to=HUB,
        )
    )
    pushed = session(CP2, "S-P1", EM1) | {"charging_periods": [period]}
    ok(net.cp2.call("PUT", f"{V2}/receiver/sessions/NL/CP2/S-P1", body=pushed, to=EM1))
    patch = {"charging_periods": [later], "kwh": 3, "last_updated": "2026-11-24T10:31:00Z"}
    ok(net.cp2.call("PATCH", f"{V2}/receiver/sessions/NL/CP2/S-P1", body=patch, to=EM1))
    down = one(net.em1, "PATCH", "/ocpi/2.1.1/sessions/NL/CP2/S-P1").body
    assert [p["start_date_time"] for p in down["charging_periods"]] == [NOW, "2026-11-24T10:30:00Z"]
    assert down["kwh"] == 3

    # 2.1.1 CPO -> 2.2.1 eMSP: only the new period is appended.
    emsp_token = token(EM2, "EM2-P") | {"contract_id": "NL-EM2-P"}
    ok(net.em2.call("PUT", f"{V2}/receiver/tokens/NL/EM2/EM2-P?type=RFID", body=emsp_token, to=HUB))
    started = example("session_example_1_simple_start.json") | {
        "id": "S-P2",
        "auth_id": "NL-EM2-P",
        "charging_periods": [period],
    }
    ok(call211(net.cp1, net.hub, "PUT", "sessions/BE/CP1/S-P2", started))
    both = {"charging_periods": [period, later], "kwh": 3}
    ok(call211(net.cp1, net.hub, "PATCH", "sessions/BE/CP1/S-P2", both))
    up = one(net.em2.fake, "PATCH", f"{V2}/sessions/receiver/BE/CP1/S-P2").body
    assert [p["start_date_time"] for p in up["charging_periods"]] == ["2026-11-24T10:30:00Z"]
    assert up["kwh"] == 3 and "last_updated" in up
    # Periods that do not extend what was relayed: the hub PUTs the merged session.
    other = {"charging_periods": [later]}
    ok(call211(net.cp1, net.hub, "PATCH", "sessions/BE/CP1/S-P2", other))
    puts = [r for r in net.em2.fake.find_requests("PUT", f"{V2}/sessions/receiver/BE/CP1/S-P2")]
    assert len(puts) == 2
    assert [p["start_date_time"] for p in puts[-1].body["charging_periods"]] == [
        "2026-11-24T10:30:00Z"
    ]
    assert puts[-1].body["kwh"] == 3 and puts[-1].body["cdr_token"]["uid"] == "EM2-P"


def test_a_211_senders_broken_answers_never_reach_the_221_caller_as_they_are(
    net: Network,
) -> None:
    """A 2.1.1 CPO's answer to a direct GET: objects that are not valid 2.1.1 Locations are left
    out (the valid one is translated); an answer that is not an envelope is the receiver's
    failure, never the hub's."""
    answers: list[tuple[int, Any]] = [
        (200, envelope([location_211("LOC-OK"), {"id": 5}, "text", {"id": "LOC-NO-ADDRESS"}])),
        (200, {"data": [location_211("LOC-OK")], "status_code": "1000"}),
        (503, b"<html>down</html>"),
    ]
    original = net.cp1.responder

    def broken(request: RecordedRequest) -> tuple[Any, ...] | None:
        if request.method == "GET" and request.path.startswith("/ocpi/2.1.1/locations"):
            status, body = answers.pop(0)
            return status, body
        return original(request) if original else None

    net.cp1.responder = broken
    try:
        got = ok(net.em2.call("GET", f"{V2}/sender/locations", to=CP1))
        assert [item["id"] for item in got["data"]] == ["LOC-OK"]
        assert got["data"][0]["party_id"] == "CP1"
        # Not an envelope (a status_code that is not a number), or not JSON: the receiver is
        # broken, 4000, as for a 2.2.1 receiver.
        for _ in range(2):
            status, _, answer = net.em2.call("GET", f"{V2}/sender/locations", to=CP1)
            assert (status, answer["status_code"]) == (502, 4000), answer
    finally:
        net.cp1.responder = original


def test_a_211_cpo_posting_a_result_is_answered_in_211_codes(net: Network) -> None:
    """A hub URL is one for every version; a 2.1.1 caller still reads its errors in 2.1.1
    status codes (4003 has no 2.1.1 equivalent: 3000, naming it)."""
    ok(call211(net.cp1, net.hub, "PUT", "locations/BE/CP1/LOC-R", location_211("LOC-R")))
    one(net.em2.fake, "PUT", f"{V2}/locations/receiver/BE/CP1/LOC-R")
    request = {
        "response_url": f"{net.em2.fake.base_url}{V2}/commands/sender/START_SESSION/r-1",
        "token": token(EM2, "EM2-R"),
        "location_id": "LOC-R",
        "evse_uid": "3256",
    }
    ok(net.em2.call("POST", f"{V2}/receiver/commands/START_SESSION", body=request))
    (sent,) = [
        r.body
        for r in net.cp1.find_requests("POST", "/ocpi/2.1.1/commands/START_SESSION")
        if r.body["location_id"] == "LOC-R"
    ]
    assert net.hub.admin("POST", f"/platforms/{net.em2.id}/suspend")[0] == 200
    try:
        status, _, answer = net.cp1.call("POST", sent["response_url"], body={"result": "ACCEPTED"})
    finally:
        assert net.hub.admin("POST", f"/platforms/{net.em2.id}/resume")[0] == 200
    assert (status, answer["status_code"]) == (502, 3000), answer
    assert "(OCPI 4003)" in answer["status_message"]
