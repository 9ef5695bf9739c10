"""OCPI 2.3.0, 2.2.1 and 2.1.1 platforms on one hub, end to end (README: "OCPI 2.3.0
platforms").

A CPO and an eMSP of each version, real OCPI servers on loopback (the CPOs register themselves,
the hub registers at the 2.3.0 and 2.1.1 eMSPs), under
``--agreements required`` with every CPO a partner of every eMSP. The 2.3.0 CPO is BE/BEC, the
party of the official 2.3.0 examples, so that they are sent as they stand.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.client import HttpResult
from tests.e2e.expect import ok, one
from tests.e2e.network import Member, connected, member
from tests.e2e.objects import cdr, location, session, token
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import RecordedRequest

EXAMPLES = Path(__file__).parent.parent / "examples"
V3, V2 = "/ocpi/2.3.0", "/ocpi/2.2.1"
HUB = ("NL", "HUB")
C3, E3, C2, E2, C1, E1 = (
    ("BE", "BEC"),
    ("DE", "TNM"),
    ("NL", "CP2"),
    ("NL", "EM2"),
    ("BE", "CP1"),
    (
        "BE",
        "EM1",
    ),
)
NOW = "2026-11-24T10:00:00Z"


def example(version: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((EXAMPLES / version / name).read_text())
    return found


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data, "status_code": 1000, "timestamp": NOW}


def answers(request: RecordedRequest) -> tuple[Any, ...] | None:
    """Command responses of the 2.1.1 CPO."""
    if request.path.startswith("/ocpi/2.1.1/commands/"):
        return 200, envelope({"result": "ACCEPTED"})
    return None


@dataclass
class Network:
    hub: InProcessHub
    c3: Member
    e3: Member
    c2: Member
    e2: Member
    c1: Member
    e1: Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    data = tmp_path_factory.mktemp("versions230") / "data"
    settings = {"agreements": "required", "retry_base": 0.1, "retry_max": 0.5}
    with own_hub(data, **settings) as hub, ExitStack() as stack:

        def join(party: tuple[str, str], role: str, version: str, by_hub: bool = False) -> Member:
            # Registering both ways: the platform with token A, or the hub at the platform.
            joined = connected if by_hub else member
            return stack.enter_context(
                joined(hub, (*party, role), version=version, responder=answers)
            )

        found = Network(
            hub,
            join(C3, "CPO", "2.3.0"),
            join(E3, "EMSP", "2.3.0", by_hub=True),
            join(C2, "CPO", "2.2.1"),
            join(E2, "EMSP", "2.2.1"),
            join(C1, "CPO", "2.1.1"),
            join(E1, "EMSP", "2.1.1", by_hub=True),
        )
        for platform_id, version in (
            (found.c3.id, "2.3.0"),
            (found.e3.id, "2.3.0"),
            (found.c1.id, "2.1.1"),
        ):
            assert hub.platform(platform_id)["version"] == version
        for cpo in (C3, C2, C1):
            for emsp in (E3, E2, E1):
                body = {
                    "cpo": {"country_code": cpo[0], "party_id": cpo[1]},
                    "partner": {"country_code": emsp[0], "party_id": emsp[1]},
                }
                status, _, answer = hub.admin("POST", "/agreements", body)
                assert status == 201, answer
        yield found


def call211(platform: Member, method: str, path: str, body: Any = None) -> HttpResult:
    return platform.fake.call(method, f"{platform.hub.url}/ocpi/2.1.1/{path}", body=body)


def test_a_230_location_reaches_every_version(net: Network) -> None:
    pushed = example("2.3.0", "location_example.json")
    sent = json.dumps(pushed).encode()
    ok(net.c3.call("PUT", f"{V3}/receiver/locations/BE/BEC/LOC1", raw=sent, to=HUB))
    # 2.3.0 to 2.3.0: the very bytes.
    assert one(net.e3.fake, "PUT", f"{V3}/locations/receiver/BE/BEC/LOC1").raw_body == sent
    # 2.2.1: without what 2.2.1 does not define.
    down = one(net.e2.fake, "PUT", f"{V2}/locations/receiver/BE/BEC/LOC1").body
    assert "parking_places" not in down and "parking" not in down["evses"][0]
    assert (down["id"], down["time_zone"]) == ("LOC1", pushed["time_zone"])
    # 2.1.1: through 2.2.1, without routing headers.
    oldest = one(net.e1.fake, "PUT", "/ocpi/2.1.1/locations/BE/BEC/LOC1")
    assert "country_code" not in oldest.body and oldest.body["id"] == "LOC1"
    assert "ocpi-to-party-id" not in oldest.headers
    # GET-all of the 2.3.0 eMSP: the 2.2.1 CPO's Location written up, its own version's URL.
    ok(net.c2.call("PUT", f"{V2}/receiver/locations/NL/CP2/L-2", body=location(C2, "L-2"), to=HUB))
    status, headers, listed = net.e3.call("GET", f"{V3}/sender/locations?limit=1", to=HUB)
    assert (status, listed["status_code"]) == (200, 1000)
    assert headers["link"].startswith(f"<{net.hub.url}{V3}/sender/locations?")
    everything = ok(net.e3.call("GET", f"{V3}/sender/locations?limit=100", to=HUB))["data"]
    assert {(item["party_id"], item["id"]) for item in everything} >= {
        ("BEC", "LOC1"),
        ("CP2", "L-2"),
    }


def test_unknown_fields_are_accepted_from_230_and_not_passed_on(net: Network) -> None:
    pushed = example("2.3.0", "location_example.json") | {
        "id": "LOC-X",
        "x_vendor": {"rating": 5},
        "facilities": ["CAFE", "MOON_BASE"],
    }
    ok(net.c3.call("PUT", f"{V3}/receiver/locations/BE/BEC/LOC-X", body=pushed, to=HUB))
    newest = one(net.e3.fake, "PUT", f"{V3}/locations/receiver/BE/BEC/LOC-X").body
    # An extension is not passed on; an OpenEnum value 2.3.0 does not list is 2.3.0 still.
    assert "x_vendor" not in newest and newest["facilities"] == ["CAFE", "MOON_BASE"]
    down = one(net.e2.fake, "PUT", f"{V2}/locations/receiver/BE/BEC/LOC-X").body
    assert "x_vendor" not in down and down["facilities"] == ["CAFE"]


def test_a_tax_inclusive_tariff_without_vat_reaches_only_230(net: Network) -> None:
    inclusive = example("2.3.0", "tariff_20_simple_north_american_inclusive.json") | {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "T-INCL",
    }
    net_tariff = example("2.3.0", "tariff_1_simple_2hour.json") | {
        "country_code": "BE",
        "party_id": "BEC",
        "id": "T-NET",
    }
    ok(net.c3.call("PUT", f"{V3}/receiver/tariffs/BE/BEC/T-INCL", body=inclusive, to=HUB))
    ok(net.c3.call("PUT", f"{V3}/receiver/tariffs/BE/BEC/T-NET", body=net_tariff, to=HUB))
    one(net.e3.fake, "PUT", f"{V3}/tariffs/receiver/BE/BEC/T-INCL")
    # Each receiver's queue is delivered in order: once the later tariff is there, the earlier
    # one was handled.
    one(net.e2.fake, "PUT", f"{V2}/tariffs/receiver/BE/BEC/T-NET")
    one(net.e1.fake, "PUT", "/ocpi/2.1.1/tariffs/BE/BEC/T-NET")
    time.sleep(0.2)
    assert not net.e2.fake.find_requests("PUT", f"{V2}/tariffs/receiver/BE/BEC/T-INCL")
    assert not net.e1.fake.find_requests("PUT", "/ocpi/2.1.1/tariffs/BE/BEC/T-INCL")


def test_costs_between_221_and_230(net: Network) -> None:
    # A 2.2.1 CPO's session to the 2.3.0 eMSP: {excl_vat, incl_vat} becomes a Price.
    pushed = session(C2, "S-23", E3) | {"total_cost": {"excl_vat": 5.0, "incl_vat": 6.05}}
    ok(net.c2.call("PUT", f"{V2}/receiver/sessions/NL/CP2/S-23", body=pushed, to=E3))
    got = one(net.e3.fake, "PUT", f"{V3}/sessions/receiver/NL/CP2/S-23").body
    assert got["total_cost"] == {"before_taxes": 5.0, "taxes": [{"name": "VAT", "amount": 1.05}]}
    # The 2.3.0 CPO's CDR (the official one) to the 2.2.1 eMSP: the Price as excl/incl VAT.
    cdr = copy.deepcopy(example("2.3.0", "cdr_example.json"))
    cdr["id"] = "CDR-23"
    cdr["cdr_token"] |= {"country_code": "NL", "party_id": "EM2"}
    ok(net.c3.call("POST", f"{V3}/receiver/cdrs", body=cdr, to=E2))
    got = one(net.e2.fake, "POST", f"{V2}/cdrs/receiver").body
    assert got["id"] == "CDR-23"
    assert got["total_cost"] == {"excl_vat": 4.0, "incl_vat": 4.4}


def test_start_session_from_a_230_emsp_at_a_211_cpo_and_its_result(net: Network) -> None:
    pushed = example("2.1.1", "location_example.json") | {
        "id": "LOC-C1",
        "time_zone": "Europe/Brussels",
    }
    ok(call211(net.c1, "PUT", "locations/BE/CP1/LOC-C1", pushed))
    one(net.e3.fake, "PUT", f"{V3}/locations/receiver/BE/CP1/LOC-C1")
    response_url = f"{net.e3.fake.base_url}{V3}/commands/sender/START_SESSION/c-1"
    request = {
        "response_url": response_url,
        "token": token(E3, "E3-CMD"),
        "location_id": "LOC-C1",
        "evse_uid": "3256",
    }
    answer = ok(net.e3.call("POST", f"{V3}/receiver/commands/START_SESSION", body=request))
    assert answer["data"]["result"] == "ACCEPTED" and answer["data"]["timeout"] > 0
    sent = one(net.c1.fake, "POST", "/ocpi/2.1.1/commands/START_SESSION").body
    assert sent["token"]["auth_id"] == token(E3, "E3-CMD")["contract_id"]
    ok(net.c1.fake.call("POST", sent["response_url"], body={"result": "ACCEPTED"}))
    assert one(net.e3.fake, "POST", f"{V3}/commands/sender/START_SESSION/c-1").body == {
        "result": "ACCEPTED"
    }


def test_a_230_emsp_pulls_its_kept_session_in_230(net: Network) -> None:
    pushed = session(C2, "S-K3", E3) | {"total_cost": {"excl_vat": 2.0, "incl_vat": 2.42}}
    ok(net.c2.call("PUT", f"{V2}/receiver/sessions/NL/CP2/S-K3", body=pushed, to=E3))
    one(net.e3.fake, "PUT", f"{V3}/sessions/receiver/NL/CP2/S-K3")
    listed = ok(net.e3.call("GET", f"{V3}/sender/sessions?limit=100", to=HUB))["data"]
    (kept,) = [item for item in listed if item["id"] == "S-K3"]
    assert kept["total_cost"] == {"before_taxes": 2.0, "taxes": [{"name": "VAT", "amount": 0.42}]}


def test_a_real_time_authorization_from_a_221_cpo_at_a_230_emsp(net: Network) -> None:
    """The authorization is open-routed to the token's 2.3.0 eMSP, and its AuthorizationInfo
    reaches the 2.2.1 CPO."""
    pushed = token(E3, "E3-AUTH")
    ok(net.e3.call("PUT", f"{V3}/receiver/tokens/DE/TNM/E3-AUTH?type=RFID", body=pushed, to=HUB))
    one(net.c2.fake, "PUT", f"{V2}/tokens/receiver/DE/TNM/E3-AUTH")
    original = net.e3.fake.responder

    def authorize(request: RecordedRequest) -> tuple[Any, ...] | None:
        if request.path.endswith("/authorize"):
            info = {"allowed": "ALLOWED", "token": pushed, "authorization_reference": "A-1"}
            return 200, envelope(info)
        return original(request) if original else None

    net.e3.fake.responder = authorize
    try:
        answer = ok(net.c2.call("POST", f"{V2}/sender/tokens/E3-AUTH/authorize?type=RFID"))
    finally:
        net.e3.fake.responder = original
    assert answer["data"]["allowed"] == "ALLOWED"
    assert answer["data"]["token"]["uid"] == "E3-AUTH"
    assert one(net.e3.fake, "POST", f"{V3}/tokens/sender/E3-AUTH/authorize").query == "type=RFID"


def test_a_pair_the_operator_allows_keeps_its_extensions(net: Network) -> None:
    """An agreement with ``extensions`` lets its two 2.3.0 parties pass each other fields 2.3.0
    does not define; the others still do not get them."""
    body = {
        "cpo": {"country_code": "BE", "party_id": "BEC"},
        "partner": {"country_code": "DE", "party_id": "TNM"},
        "extensions": True,
    }
    status, _, agreement = net.hub.admin("POST", "/agreements", body)
    assert status == 201, agreement
    try:
        pushed = example("2.3.0", "location_example.json") | {
            "id": "LOC-EXT",
            "x_vendor": {"rating": 5},
        }
        sent = json.dumps(pushed).encode()
        ok(net.c3.call("PUT", f"{V3}/receiver/locations/BE/BEC/LOC-EXT", raw=sent, to=HUB))
        got = one(net.e3.fake, "PUT", f"{V3}/locations/receiver/BE/BEC/LOC-EXT")
        assert got.raw_body == sent  # as sent, extension and all
        down = one(net.e2.fake, "PUT", f"{V2}/locations/receiver/BE/BEC/LOC-EXT").body
        assert "x_vendor" not in down
    finally:
        assert net.hub.admin("DELETE", f"/agreements/{agreement['id']}")[0] == 200


def test_the_other_way_a_221_cdr_and_a_230_session(net: Network) -> None:
    pushed = cdr(C2, "CDR-22", E3) | {"total_cost": {"excl_vat": 5.0, "incl_vat": 6.0}}
    ok(net.c2.call("POST", f"{V2}/receiver/cdrs", body=pushed, to=E3))
    got = one(net.e3.fake, "POST", f"{V3}/cdrs/receiver").body
    assert got["total_cost"] == {"before_taxes": 5.0, "taxes": [{"name": "VAT", "amount": 1.0}]}
    newest = copy.deepcopy(example("2.3.0", "session_example_2_short_finished.json"))
    newest["id"] = "S-30"
    newest["cdr_token"] |= {"country_code": "NL", "party_id": "EM2"}
    ok(net.c3.call("PUT", f"{V3}/receiver/sessions/BE/BEC/S-30", body=newest, to=E2))
    got = one(net.e2.fake, "PUT", f"{V2}/sessions/receiver/BE/BEC/S-30").body
    assert got["total_cost"] == {"excl_vat": 8.5, "incl_vat": 9.35}


def test_a_call_2_2_1_cannot_carry_goes_as_sent_to_a_2_3_0_receiver(net: Network) -> None:
    """An EVSE of MCS connectors only (a connector standard 2.2.1 lacks) sent to one named
    receiver: taken by a 2.3.0 eMSP as sent, refused naming why toward a 2.2.1 one, and nothing
    sent to it."""
    evse = copy.deepcopy(example("2.3.0", "location_example.json")["evses"][0])
    evse["uid"] = "MCS-1"
    for connector in evse["connectors"]:
        connector["standard"] = "MCS"
    sent = json.dumps(evse).encode()
    path = f"{V3}/receiver/locations/BE/BEC/LOC1/MCS-1"
    ok(net.c3.call("PUT", path, raw=sent, to=E3))
    assert one(net.e3.fake, "PUT", f"{V3}/locations/receiver/BE/BEC/LOC1/MCS-1").raw_body == sent
    status, _, answer = net.c3.call("PUT", path, raw=sent, to=E2)
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert "2.2.1" in answer["status_message"]
    assert not net.e2.fake.find_requests("PUT", f"{V2}/locations/receiver/BE/BEC/LOC1/MCS-1")
