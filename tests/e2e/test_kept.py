"""Sessions and CDRs the hub delivered to an eMSP, pulled back from the hub by that eMSP alone
(README: "Kept sessions and CDRs"): a 2.2.1 CPO pushes them to 2.2.1 eMSPs through the hub,
then each eMSP GETs the hub's Sender interface with OCPI-to = the hub. A hub of this module's
own, so that its lists hold only what these tests put in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import client
from tests.e2e.network import Member, member
from tests.e2e.objects import cdr, session
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import RecordedRequest

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CPO, EMA, EMB = ("KP", "CPO"), ("KP", "EMA"), ("KP", "EMB")


@dataclass
class Network:
    hub: InProcessHub
    cpo: Member
    ema: Member
    emb: Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    with own_hub(tmp_path_factory.mktemp("kept") / "data") as hub, ExitStack() as stack:
        yield Network(
            hub=hub,
            cpo=stack.enter_context(member(hub, ("KP", "CPO", "CPO"))),
            ema=stack.enter_context(member(hub, ("KP", "EMA", "EMSP"))),
            emb=stack.enter_context(member(hub, ("KP", "EMB", "EMSP"))),
        )


def ok(result: tuple[int, dict[str, str], Any]) -> tuple[dict[str, str], Any]:
    status, headers, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return headers, answer


def ids(answer: Any) -> list[str]:
    return [item["id"] for item in answer["data"]]


def period(start: str, kwh: float) -> dict[str, Any]:
    return {"start_date_time": start, "dimensions": [{"type": "ENERGY", "volume": kwh}]}


def stamped(body: dict[str, Any], last_updated: str) -> dict[str, Any]:
    return {**body, "last_updated": last_updated}


def pull(who: Member, module: str, query: str = "") -> tuple[dict[str, str], Any]:
    """``who`` GETs its kept ``module`` from the hub."""
    return ok(who.call("GET", f"{V}/sender/{module}{query}", to=HUB))


def test_sessions_come_back_to_their_emsp_alone_with_their_patches(net: Network) -> None:
    first = {**session(CPO, "S-KEPT", EMA), "charging_periods": [period("2026-11-24T10:00:00Z", 1)]}
    ok(net.cpo.call("PUT", f"{V}/receiver/sessions/KP/CPO/S-KEPT", body=first, to=EMA))
    patch = {
        "kwh": 3.5,
        "charging_periods": [period("2026-11-24T10:15:00Z", 2.5)],
        "last_updated": "2026-11-24T10:20:00Z",
    }
    ok(net.cpo.call("PATCH", f"{V}/receiver/sessions/KP/CPO/S-KEPT", body=patch, to=EMA))
    other = session(CPO, "S-OTHER", EMB)
    ok(net.cpo.call("PUT", f"{V}/receiver/sessions/KP/CPO/S-OTHER", body=other, to=EMB))

    headers, answer = pull(net.ema, "sessions")
    assert ids(answer) == ["S-KEPT"]
    (kept,) = answer["data"]
    # The PATCH replaced kwh and last_updated and added its charging period (2.2.1, Sessions
    # module, Receiver PATCH: new charging periods are appended).
    assert kept == {
        **first,
        "kwh": 3.5,
        "charging_periods": [
            period("2026-11-24T10:00:00Z", 1),
            period("2026-11-24T10:15:00Z", 2.5),
        ],
        "last_updated": "2026-11-24T10:20:00Z",
    }
    assert headers["x-total-count"] == "1"
    # The hub answers as a party: FROM is the hub, TO the caller (2.2.1 "Message routing").
    assert (headers["ocpi-from-country-code"], headers["ocpi-from-party-id"]) == HUB
    assert (headers["ocpi-to-country-code"], headers["ocpi-to-party-id"]) == EMA
    # The other eMSP sees only its own; the CPO's own side is not the one that pulls sessions.
    assert ids(pull(net.emb, "sessions")[1]) == ["S-OTHER"]


def test_cdrs_are_served_a_page_at_a_time_filtered_by_date(net: Network) -> None:
    for i in range(4):
        body = stamped(cdr(CPO, f"C-{i}", EMA), f"2027-02-01T10:0{i}:00Z")
        status, _, answer = net.cpo.call("POST", f"{V}/receiver/cdrs", body=body, to=EMA)
        assert (status, answer["status_code"]) == (200, 1000), answer
    window = "date_from=2027-02-01T10%3A01%3A00Z&date_to=2027-02-01T10%3A03%3A00Z"

    # date_from inclusive, date_to exclusive (2.2.1 "Transport and format", Pagination).
    headers, answer = pull(net.ema, "cdrs", f"?{window}&limit=1")
    assert ids(answer) == ["C-1"]
    assert (headers["x-total-count"], headers["x-limit"]) == ("2", "100")
    link = re.fullmatch(r'<([^>]+)>; rel="next"', headers["link"])
    assert link is not None
    assert link.group(1) == f"{net.hub.url}/ocpi/2.2.1/sender/cdrs?{window}&limit=1&offset=1"
    headers, answer = ok(net.ema.call("GET", link.group(1), to=HUB))
    assert ids(answer) == ["C-2"] and "link" not in headers
    # Every CDR, oldest first; the CDR comes back as the CPO sent it.
    _, answer = pull(net.ema, "cdrs", "?date_from=2027-01-01T00%3A00%3A00Z")
    assert ids(answer) == ["C-0", "C-1", "C-2", "C-3"]
    assert answer["data"][3] == stamped(cdr(CPO, "C-3", EMA), "2027-02-01T10:03:00Z")
    # None of them is the other eMSP's.
    headers, answer = pull(net.emb, "cdrs")
    assert answer["data"] == [] and headers["x-total-count"] == "0"

    _, _, text = client.request("GET", f"{net.hub.url}/metrics")
    # The counter is the process's: other tests of this process may have kept CDRs too.
    kept = re.search(r'ocpi_hub_kept_total\{module="cdrs",outcome="kept"\} ([0-9.]+)', str(text))
    assert kept is not None and float(kept.group(1)) >= 4


def test_a_cdr_without_routing_headers_is_kept_for_the_emsp_of_its_token(net: Network) -> None:
    body = stamped(cdr(CPO, "C-OPEN", EMB), "2027-03-01T10:00:00Z")
    ok(net.cpo.call("POST", f"{V}/receiver/cdrs", body=body))
    assert ids(pull(net.emb, "cdrs", "?date_from=2027-03-01T00%3A00%3A00Z")[1]) == ["C-OPEN"]
    assert "C-OPEN" not in ids(pull(net.ema, "cdrs")[1])


def test_what_the_emsp_refused_is_not_kept(net: Network) -> None:
    def refuse(request: RecordedRequest) -> tuple[int, dict[str, Any]] | None:
        if request.method == "POST" and request.path.endswith("/cdrs/receiver"):
            return 200, {"status_code": 2001, "status_message": "bad CDR", "timestamp": "x"}
        if request.method == "PUT" and request.path.endswith("/S-REFUSED"):
            return 400, {"status_code": 2001, "status_message": "bad session", "timestamp": "x"}
        return None

    net.ema.fake.responder = refuse
    try:
        body = stamped(cdr(CPO, "C-REFUSED", EMA), "2027-04-01T10:00:00Z")
        _, _, answer = net.cpo.call("POST", f"{V}/receiver/cdrs", body=body, to=EMA)
        assert answer["status_code"] == 2001, answer
        url = f"{V}/receiver/sessions/KP/CPO/S-REFUSED"
        status, _, answer = net.cpo.call("PUT", url, body=session(CPO, "S-REFUSED", EMA), to=EMA)
        assert (status, answer["status_code"]) == (400, 2001), answer
    finally:
        net.ema.fake.responder = None
    assert "C-REFUSED" not in ids(pull(net.ema, "cdrs")[1])
    assert "S-REFUSED" not in ids(pull(net.ema, "sessions")[1])


@pytest.mark.parametrize(
    ("method", "path", "status", "ocpi_status", "says"),
    [
        # 2.2.1 defines no GET of one session or CDR on the Sender interface.
        ("GET", "/sender/sessions/S-KEPT", 404, 2000, "no single-object GET"),
        ("GET", "/sender/cdrs/C-0", 404, 2000, "no single-object GET"),
        ("GET", "/sender/cdrs?date_from=yesterday", 400, 2001, "RFC 3339"),
        ("GET", "/sender/sessions?limit=many", 400, 2001, "limit"),
    ],
)
def test_what_the_hub_does_not_serve_of_kept_records(
    net: Network, method: str, path: str, status: int, ocpi_status: int, says: str
) -> None:
    got, _, answer = net.ema.call(method, V + path, to=HUB)
    assert (got, answer["status_code"]) == (status, ocpi_status), answer
    assert says in answer["status_message"]


def test_charging_preferences_are_not_the_hubs_to_take(net: Network) -> None:
    body = {"profile_type": "FAST"}
    url = f"{V}/sender/sessions/S-KEPT/charging_preferences"
    status, _, answer = net.ema.call("PUT", url, body=body, to=HUB)
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert "serves GET lists of" in answer["status_message"]


def test_an_ended_agreement_leaves_what_was_delivered_under_it(tmp_path: Path) -> None:
    """Under --agreements required, an eMSP still pulls what it received while it had an
    agreement: the records are its customers' sessions, which it must still be able to bill."""
    cpo, emsp, stranger = ("KA", "CPO"), ("KA", "EMA"), ("KA", "EMB")
    with (
        own_hub(tmp_path / "data", agreements="required") as hub,
        member(hub, ("KA", "CPO", "CPO")) as cpo_member,
        member(hub, ("KA", "EMA", "EMSP")) as emsp_member,
        member(hub, ("KA", "EMB", "EMSP")) as stranger_member,
    ):
        body = {
            "cpo": {"country_code": cpo[0], "party_id": cpo[1]},
            "partner": {"country_code": emsp[0], "party_id": emsp[1]},
        }
        status, _, agreement = hub.admin("POST", "/agreements", body)
        assert status == 201, agreement
        ok(cpo_member.call("POST", f"{V}/receiver/cdrs", body=cdr(cpo, "C-AG", emsp), to=emsp))
        # Without an agreement nothing is delivered, so nothing is kept.
        status, _, answer = cpo_member.call(
            "POST", f"{V}/receiver/cdrs", body=cdr(cpo, "C-NO", stranger), to=stranger
        )
        assert answer["status_code"] != 1000, answer
        assert hub.admin("DELETE", f"/agreements/{agreement['id']}")[0] == 200

        assert ids(pull(emsp_member, "cdrs")[1]) == ["C-AG"]
        assert pull(stranger_member, "cdrs")[1]["data"] == []
