"""Hub URLs (``/ocpi/2.2.1/via/{id}``) that stand for a platform's URL: a command's or charging
profile's ``response_url``, the next page of a list, a CDR's Location. Each takes only what it
stands for, from the platform it was handed to, while its platform is reachable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.network import Hub, Pair, cpo_and_emsp
from tests.e2e.objects import token
from tests.parties import RecordedRequest

V = "/ocpi/2.2.1"
CPO, EMSP = ("HU", "CPO"), ("HU", "EMS")
TIMESTAMP = "2026-12-01T10:00:00Z"


@pytest.fixture(scope="module")
def pair(hub: Hub) -> Iterator[Pair]:
    with cpo_and_emsp(hub, "HU") as found:
        yield found


def ok(result: tuple[int, dict[str, str], Any]) -> tuple[dict[str, str], Any]:
    status, headers, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return headers, answer


def next_page(pair: Pair) -> str:
    """A hub URL for the second page of the CPO's locations, as the eMSP gets it."""

    def first_page(request: RecordedRequest) -> tuple[Any, ...] | None:
        if request.path != "/ocpi/2.2.1/locations/sender" or request.query:
            return None
        link = f'<{pair.cpo.fake.base_url}/ocpi/2.2.1/locations/sender?offset=1>; rel="next"'
        data = {"data": [], "status_code": 1000, "timestamp": TIMESTAMP}
        return 200, data, {"Link": link}

    pair.cpo.fake.responder = first_page
    try:
        headers, _ = ok(pair.emsp.call("GET", f"{V}/sender/locations", to=CPO))
    finally:
        pair.cpo.fake.responder = None
    found = re.fullmatch(r'<([^>]+)>; rel="next"', headers["link"])
    assert found is not None
    return found.group(1)


def test_a_next_page_is_read_with_get_only(pair: Pair) -> None:
    url = next_page(pair)
    status, headers, answer = pair.emsp.call("POST", url, body={}, to=CPO)
    assert (status, answer["status_code"]) == (405, 2000), answer
    assert headers["allow"] == "GET"
    assert pair.cpo.received(path="/ocpi/2.2.1/locations/sender", method="POST") == []
    ok(pair.emsp.call("GET", url, to=CPO))
    second = pair.cpo.received("GET", "/ocpi/2.2.1/locations/sender")[-1]
    assert second.query == "offset=1"


def test_a_next_page_of_a_suspended_platform_is_4003(pair: Pair) -> None:
    url = next_page(pair)
    hub = pair.cpo.hub
    status, _, _ = hub.admin("POST", f"/platforms/{pair.cpo.id}/suspend")
    assert status == 200
    try:
        status, _, answer = pair.emsp.call("GET", url, to=CPO)
    finally:
        assert hub.admin("POST", f"/platforms/{pair.cpo.id}/resume")[0] == 200
    assert (status, answer["status_code"]) == (502, 4003), answer
    assert "HU/CPO is not connected" in answer["status_message"]
    # Back and connected, the page can be read again.
    assert hub.platform(pair.cpo.id)["status"] == "CONNECTED"
    ok(pair.emsp.call("GET", url, to=CPO))


def test_a_well_formed_id_the_hub_never_handed_out_is_404(pair: Pair) -> None:
    status, _, answer = pair.emsp.call("GET", f"{V}/via/{'A' * 32}")
    assert (status, answer["status_code"]) == (404, 2000), answer
    assert answer["status_message"] == "unknown or expired hub URL"


# --- command results ----------------------------------------------------------------------


def start_session(pair: Pair, data: Any) -> str:
    """A START_SESSION from the eMSP that the CPO answers with ``data``; the hub URL the CPO
    got for its result."""

    def answer(request: RecordedRequest) -> tuple[Any, ...] | None:
        if "/commands/receiver/" not in request.path:
            return None
        return 200, {"data": data, "status_code": 1000, "timestamp": TIMESTAMP}

    original = f"{pair.emsp.fake.base_url}/ocpi/2.2.1/commands/sender/START-URLS"
    start = {"response_url": original, "token": token(EMSP, "T-URLS"), "location_id": "L-1"}
    pair.cpo.fake.responder = answer
    try:
        _, answered = ok(
            pair.emsp.call("POST", f"{V}/receiver/commands/START_SESSION", body=start, to=CPO)
        )
    finally:
        pair.cpo.fake.responder = None
    assert answered["data"] == data
    sent = pair.cpo.received("POST", "/ocpi/2.2.1/commands/receiver/START_SESSION")[-1]
    return str(sent.body["response_url"])


def test_a_result_url_is_posted_to_only(pair: Pair) -> None:
    url = start_session(pair, {"result": "ACCEPTED", "timeout": 30})
    status, headers, answer = pair.cpo.call("GET", url)
    assert (status, answer["status_code"]) == (405, 2000), answer
    assert headers["allow"] == "POST"
    # Still there for the result.
    ok(pair.cpo.call("POST", url, body={"result": "ACCEPTED"}))


@pytest.mark.parametrize(
    "data",
    [
        "ACCEPTED",
        {"result": "ACCEPTED", "timeout": "soon"},
        {"result": "ACCEPTED", "timeout": None},
        [{"timeout": 1}],
    ],
    ids=["a string", "a timeout that is no number", "no timeout", "a list"],
)
def test_a_command_answer_without_a_readable_timeout_lets_the_result_through(
    pair: Pair, data: Any
) -> None:
    url = start_session(pair, data)
    ok(pair.cpo.call("POST", url, body={"result": "ACCEPTED"}))
    assert pair.emsp.received("POST", "/ocpi/2.2.1/commands/sender/START-URLS")


@pytest.mark.parametrize(
    ("expiry", "reservation"),
    [
        ("2099-01-01T00:00:00", "RES-NAIVE"),
        ("not a date", "RES-UNREADABLE"),
        ("", "RES-EMPTY"),
        ("2000-01-01T00:00:00Z", "RES-PAST"),
    ],
)
def test_a_reservation_is_routed_whatever_its_expiry_date_says(
    pair: Pair, expiry: str, reservation: str
) -> None:
    """The hub keeps a reservation (for CANCEL_RESERVATION without OCPI-to) and its result URL
    (for a later CANCELED_RESERVATION) until the expiry date, and never less than a minute:
    a date it cannot read is that minute (2.2.1 "ReserveNow", "DateTime")."""
    original = f"{pair.emsp.fake.base_url}/ocpi/2.2.1/commands/sender/{reservation}"

    def answer(request: RecordedRequest) -> tuple[Any, ...] | None:
        if "/commands/receiver/" not in request.path:
            return None
        data = {"result": "ACCEPTED", "timeout": 30}
        return 200, {"data": data, "status_code": 1000, "timestamp": TIMESTAMP}

    body = {
        "response_url": original,
        "token": token(EMSP, "T-RES"),
        "expiry_date": expiry,
        "reservation_id": reservation,
        "location_id": "L-RES",
    }
    pair.cpo.fake.responder = answer
    try:
        ok(pair.emsp.call("POST", f"{V}/receiver/commands/RESERVE_NOW", body=body, to=CPO))
        sent = pair.cpo.received("POST", "/ocpi/2.2.1/commands/receiver/RESERVE_NOW")[-1]
        url = sent.body["response_url"]
        ok(pair.cpo.call("POST", url, body={"result": "ACCEPTED"}))
        ok(pair.cpo.call("POST", url, body={"result": "CANCELED_RESERVATION"}))
        cancel = {"response_url": original, "reservation_id": reservation}
        ok(pair.emsp.call("POST", f"{V}/receiver/commands/CANCEL_RESERVATION", body=cancel))
    finally:
        pair.cpo.fake.responder = None
    results = pair.emsp.received("POST", f"/ocpi/2.2.1/commands/sender/{reservation}")
    assert [r.body["result"] for r in results] == ["ACCEPTED", "CANCELED_RESERVATION"]
    (cancelled,) = [
        r
        for r in pair.cpo.received("POST", "/ocpi/2.2.1/commands/receiver/CANCEL_RESERVATION")
        if r.body["reservation_id"] == reservation
    ]
    assert (cancelled.headers["ocpi-to-country-code"], cancelled.headers["ocpi-to-party-id"]) == CPO
