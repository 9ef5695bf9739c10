"""Open routing (no OCPI-to headers), callbacks through the hub, and rewritten URLs."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.network import Member, member
from tests.e2e.objects import cdr, command_response, location, session, token
from tests.hubproc import HubProcess
from tests.parties import DEFAULT_MODULES, RecordedRequest, b64

V = "/ocpi/2.2.1"
CPA, CPB, EMA, EMB = ("OR", "CPA"), ("OR", "CPB"), ("OR", "EMA"), ("OR", "EMB")


@dataclass
class Network:
    cpa: Member
    cpb: Member
    ema: Member
    emb: Member


@pytest.fixture(scope="module")
def net(hub: HubProcess) -> Iterator[Network]:
    with ExitStack() as stack:
        yield Network(
            cpa=stack.enter_context(member(hub, ("OR", "CPA", "CPO"))),
            cpb=stack.enter_context(member(hub, ("OR", "CPB", "CPO"))),
            ema=stack.enter_context(member(hub, ("OR", "EMA", "EMSP"))),
            # eMSP B also takes ActiveChargingProfile updates (chargingprofiles SENDER).
            emb=stack.enter_context(
                member(
                    hub,
                    ("OR", "EMB", "EMSP"),
                    modules=[*DEFAULT_MODULES["EMSP"], ("chargingprofiles", "SENDER")],
                )
            ),
        )


def ok(result: tuple[int, dict[str, str], Any]) -> Any:
    status, _, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return answer


# --- open routing ----------------------------------------------------------------------


def test_a_cdr_goes_to_the_emsp_of_its_token(net: Network) -> None:
    ok(net.cpa.call("POST", f"{V}/receiver/cdrs", body=cdr(CPA, "CDR-OPEN", EMB)))
    (got,) = [
        r
        for r in net.emb.received("POST", "/ocpi/2.2.1/cdrs/receiver")
        if r.body["id"] == "CDR-OPEN"
    ]
    assert (got.headers["ocpi-to-country-code"], got.headers["ocpi-to-party-id"]) == EMB
    assert not [r for r in net.ema.received("POST") if (r.body or {}).get("id") == "CDR-OPEN"]


def test_sessions_follow_their_emsp_and_patches_follow_the_session(net: Network) -> None:
    ok(
        net.cpa.call(
            "PUT", f"{V}/receiver/sessions/OR/CPA/S-OPEN", body=session(CPA, "S-OPEN", EMA)
        )
    )
    patch = {"kwh": 3.5, "last_updated": "2026-11-24T10:05:00Z"}
    ok(net.cpa.call("PATCH", f"{V}/receiver/sessions/OR/CPA/S-OPEN", body=patch))
    got = net.ema.received(path="/ocpi/2.2.1/sessions/receiver/OR/CPA/S-OPEN")
    assert [r.method for r in got] == ["PUT", "PATCH"]
    assert got[1].body == patch


def test_a_stop_command_goes_to_the_cpo_of_the_session(net: Network) -> None:
    ok(
        net.cpb.call(
            "PUT", f"{V}/receiver/sessions/OR/CPB/S-STOP", body=session(CPB, "S-STOP", EMA)
        )
    )
    body = {
        "response_url": f"{net.ema.fake.base_url}/ocpi/2.2.1/commands/sender/r1",
        "session_id": "S-STOP",
    }
    ok(net.ema.call("POST", f"{V}/receiver/commands/STOP_SESSION", body=body))
    assert net.cpb.received("POST", "/ocpi/2.2.1/commands/receiver/STOP_SESSION")
    assert not net.cpa.received("POST", "/ocpi/2.2.1/commands/receiver/STOP_SESSION")


def test_a_start_command_goes_to_the_cpo_of_the_location(net: Network) -> None:
    ok(
        net.cpa.call(
            "PUT",
            f"{V}/receiver/locations/OR/CPA/LOC-START",
            body=location(CPA, "LOC-START"),
            to=EMA,
        )
    )
    body = {
        "response_url": f"{net.ema.fake.base_url}/ocpi/2.2.1/commands/sender/r2",
        "token": token(EMA, "T-START"),
        "location_id": "LOC-START",
    }
    ok(net.ema.call("POST", f"{V}/receiver/commands/START_SESSION", body=body))
    (got,) = net.cpa.received("POST", "/ocpi/2.2.1/commands/receiver/START_SESSION")[-1:]
    assert got.body["location_id"] == "LOC-START"


def test_a_real_time_authorization_goes_to_the_emsp_of_the_token(net: Network) -> None:
    ok(net.emb.call("PUT", f"{V}/receiver/tokens/OR/EMB/T-AUTH", body=token(EMB, "T-AUTH"), to=CPA))
    ok(
        net.cpa.call(
            "POST", f"{V}/sender/tokens/T-AUTH/authorize?type=RFID", body={"location_id": "LOC-1"}
        )
    )
    (got,) = net.emb.received("POST", "/ocpi/2.2.1/tokens/sender/T-AUTH/authorize")
    assert got.query == "type=RFID"
    assert got.body == {"location_id": "LOC-1"}


@pytest.mark.parametrize(
    ("who", "method", "path", "body", "mentions"),
    [
        ("cpa", "POST", "sender/tokens/T-UNKNOWN/authorize", None, "token T-UNKNOWN"),
        (
            "ema",
            "POST",
            "receiver/commands/STOP_SESSION",
            {"response_url": "http://x/y", "session_id": "S-UNKNOWN"},
            "session S-UNKNOWN",
        ),
        ("ema", "GET", "sender/locations", None, "cannot tell the receiver"),
        (
            "cpa",
            "PUT",
            "receiver/locations/OR/CPA/LOC-NO-TO",
            location(CPA, "LOC-NO-TO"),
            "cannot tell the receiver",
        ),
    ],
)
def test_open_routing_does_not_guess(
    net: Network, who: str, method: str, path: str, body: Any, mentions: str
) -> None:
    status, _, answer = getattr(net, who).call(method, f"{V}/{path}", body=body)
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert mentions in answer["status_message"]


def test_a_location_id_of_two_cpos_is_ambiguous(net: Network) -> None:
    for cpo, party in ((net.cpa, CPA), (net.cpb, CPB)):
        ok(
            cpo.call(
                "PUT",
                f"{V}/receiver/locations/{party[0]}/{party[1]}/LOC-TWICE",
                body=location(party, "LOC-TWICE"),
                to=EMA,
            )
        )
    body = {
        "response_url": "http://x/y",
        "location_id": "LOC-TWICE",
        "evse_uid": "E",
        "connector_id": "1",
    }
    status, _, answer = net.ema.call("POST", f"{V}/receiver/commands/UNLOCK_CONNECTOR", body=body)
    assert (status, answer["status_code"]) == (404, 4001)
    assert "ambiguous" in answer["status_message"]


# --- callbacks -------------------------------------------------------------------------


def test_a_command_result_reaches_the_emsps_response_url(net: Network) -> None:
    original = f"{net.ema.fake.base_url}/ocpi/2.2.1/commands/sender/START/42"
    body = {
        "response_url": original,
        "token": token(EMA, "T-CB"),
        "location_id": "LOC-CB",
        "authorization_reference": "ref-1",
    }
    net.cpa.fake.responder = command_response
    try:
        answer = ok(net.ema.call("POST", f"{V}/receiver/commands/START_SESSION", body=body, to=CPA))
    finally:
        net.cpa.fake.responder = None
    assert answer["data"] == {"result": "ACCEPTED", "timeout": 30}
    got = net.cpa.received("POST", "/ocpi/2.2.1/commands/receiver/START_SESSION")[-1]
    hub_url = got.body["response_url"]
    assert hub_url.startswith(f"{net.cpa.hub.url}/ocpi/2.2.1/via/")
    assert {k: v for k, v in got.body.items() if k != "response_url"} == {
        k: v for k, v in body.items() if k != "response_url"
    }

    result = {"result": "ACCEPTED"}
    # Only the CPO that got the command may post its result.
    status, _, refused = net.cpb.call("POST", hub_url, body=result)
    assert (status, refused["status_code"]) == (404, 2000)
    ok(net.cpa.call("POST", hub_url, body=result))

    (arrived,) = net.ema.received("POST", "/ocpi/2.2.1/commands/sender/START/42")
    assert arrived.body == result
    assert arrived.authorization == f"Token {b64(net.ema.fake.issued_token or '')}"
    assert (arrived.headers["ocpi-from-country-code"], arrived.headers["ocpi-from-party-id"]) == CPA
    assert (arrived.headers["ocpi-to-country-code"], arrived.headers["ocpi-to-party-id"]) == EMA
    # One time only.
    status, _, again = net.cpa.call("POST", hub_url, body=result)
    assert (status, again["status_code"]) == (404, 2000)


def test_a_reservation_can_be_cancelled_by_the_cpo_later(net: Network) -> None:
    original = f"{net.ema.fake.base_url}/ocpi/2.2.1/commands/sender/RESERVE/7"
    body = {
        "response_url": original,
        "token": token(EMA, "T-RES"),
        "expiry_date": "2099-01-01T00:00:00Z",
        "reservation_id": "RES-7",
        "location_id": "LOC-RES",
    }
    net.cpb.fake.responder = command_response
    try:
        ok(net.ema.call("POST", f"{V}/receiver/commands/RESERVE_NOW", body=body, to=CPB))
    finally:
        net.cpb.fake.responder = None
    hub_url = net.cpb.received("POST", "/ocpi/2.2.1/commands/receiver/RESERVE_NOW")[-1].body[
        "response_url"
    ]
    ok(net.cpb.call("POST", hub_url, body={"result": "ACCEPTED"}))
    ok(net.cpb.call("POST", hub_url, body={"result": "CANCELED_RESERVATION"}))
    assert [
        r.body["result"] for r in net.ema.received("POST", "/ocpi/2.2.1/commands/sender/RESERVE/7")
    ] == [
        "ACCEPTED",
        "CANCELED_RESERVATION",
    ]
    # And a cancel command finds the CPO of the reservation without OCPI-to.
    cancel = {"response_url": original, "reservation_id": "RES-7"}
    ok(net.ema.call("POST", f"{V}/receiver/commands/CANCEL_RESERVATION", body=cancel))
    assert net.cpb.received("POST", "/ocpi/2.2.1/commands/receiver/CANCEL_RESERVATION")


def test_charging_profile_results_and_updates_reach_the_requester(net: Network) -> None:
    ok(
        net.cpa.call(
            "PUT", f"{V}/receiver/sessions/OR/CPA/S-PROF", body=session(CPA, "S-PROF", EMB)
        )
    )
    original = f"{net.emb.fake.base_url}/ocpi/2.2.1/commands/sender/profile-result"
    profile = {
        "charging_rate_unit": "W",
        "charging_profile_period": [{"start_period": 0, "limit": 11000}],
    }
    net.cpa.fake.responder = command_response
    try:
        # PUT with response_url in the body, GET and DELETE with it in the query; open routing
        # by the session.
        ok(
            net.emb.call(
                "PUT",
                f"{V}/receiver/chargingprofiles/S-PROF",
                body={"charging_profile": profile, "response_url": original},
            )
        )
        ok(
            net.emb.call(
                "GET", f"{V}/receiver/chargingprofiles/S-PROF?duration=900&response_url={original}"
            )
        )
        ok(net.emb.call("DELETE", f"{V}/receiver/chargingprofiles/S-PROF?response_url={original}"))
    finally:
        net.cpa.fake.responder = None
    put, get, delete = net.cpa.received(path="/ocpi/2.2.1/chargingprofiles/receiver/S-PROF")
    found = [re.search(r"response_url=([^&]+)", r.query) for r in (get, delete)]
    urls = [put.body["response_url"]] + [m.group(1) for m in found if m is not None]
    assert len(urls) == 3
    urls = [urllib.parse.unquote(u) for u in urls]
    assert all(u.startswith(f"{net.cpa.hub.url}/ocpi/2.2.1/via/") for u in urls)
    assert "duration=900" in get.query
    for url in urls:
        ok(net.cpa.call("POST", url, body={"result": "ACCEPTED"}))
    assert len(net.emb.received("POST", "/ocpi/2.2.1/commands/sender/profile-result")) == 3

    # The CPO's later ActiveChargingProfile reaches the eMSP that set the profile.
    active = {"start_date_time": "2026-11-24T10:00:00Z", "charging_profile": profile}
    ok(net.cpa.call("PUT", f"{V}/sender/chargingprofiles/S-PROF", body=active))
    (update,) = net.emb.received("PUT", "/ocpi/2.2.1/chargingprofiles/sender/S-PROF")
    assert update.body == active


# --- rewritten URLs --------------------------------------------------------------------


def test_the_link_chain_is_followed_to_the_last_page(net: Network) -> None:
    pages = 3
    base = f"{net.cpa.fake.base_url}/ocpi/2.2.1/locations/sender"

    def paged(request: RecordedRequest) -> tuple[Any, ...] | None:
        if request.path != "/ocpi/2.2.1/locations/sender":
            return None
        offset = int(dict(p.split("=") for p in request.query.split("&") if p).get("offset", 0))
        headers = {"X-Total-Count": str(pages), "X-Limit": "1"}
        if offset + 1 < pages:
            headers["Link"] = (
                f'<{base}?date_from=2026-01-01T00:00:00Z&offset={offset + 1}&limit=1>; rel="next"'
            )
        data = [{"country_code": CPA[0], "party_id": CPA[1], "page": offset}]
        return (
            200,
            {"data": data, "status_code": 1000, "timestamp": "2026-11-24T10:00:00Z"},
            headers,
        )

    net.cpa.fake.responder = paged
    try:
        seen: list[Any] = []
        status, headers, answer = net.ema.call(
            "GET", f"{V}/sender/locations?date_from=2026-01-01T00:00:00Z&limit=1", to=CPA
        )
        while True:
            assert status == 200, answer
            seen.extend(item["page"] for item in answer["data"])
            assert headers["x-total-count"] == str(pages)
            assert headers["x-limit"] == "1"
            if "link" not in headers:
                break
            next_url = re.match(r'<([^>]+)>; rel="next"', headers["link"]).group(1)  # type: ignore[union-attr]
            assert next_url.startswith(f"{net.ema.hub.url}/ocpi/2.2.1/via/")
            # Another platform cannot follow it.
            assert net.emb.call("GET", next_url, to=CPA)[0] == 404
            status, headers, answer = net.ema.call("GET", next_url, to=CPA)
    finally:
        net.cpa.fake.responder = None
    assert seen == list(range(pages))


def test_the_cdr_location_is_a_hub_url_that_works(net: Network) -> None:
    stored = f"{net.ema.fake.base_url}/ocpi/2.2.1/cdrs/receiver/CDR-LOC"

    def created(request: RecordedRequest) -> tuple[Any, ...] | None:
        if request.method == "POST" and request.path == "/ocpi/2.2.1/cdrs/receiver":
            return (
                201,
                {"status_code": 1000, "timestamp": "2026-11-24T10:00:00Z"},
                {"Location": stored},
            )
        return None

    net.ema.fake.responder = created
    try:
        status, headers, _ = net.cpa.call(
            "POST", f"{V}/receiver/cdrs", body=cdr(CPA, "CDR-LOC", EMA), to=EMA
        )
    finally:
        net.ema.fake.responder = None
    assert status == 201
    assert headers["location"].startswith(f"{net.cpa.hub.url}/ocpi/2.2.1/via/")
    ok(net.cpa.call("GET", headers["location"]))
    assert net.ema.received("GET", "/ocpi/2.2.1/cdrs/receiver/CDR-LOC")
