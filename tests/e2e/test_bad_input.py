"""Bad input never gets a 500: each of these was once a 500 with a traceback (the session's
hub fixture fails the run on any traceback in the hub's log)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests import client
from tests.e2e.network import Member, Pair, cpo_and_emsp
from tests.e2e.objects import location, token
from tests.hubproc import HubProcess
from tests.parties import RecordedRequest, b64

V = "/ocpi/2.2.1"
CPO, EMSP, HUB = ("BI", "CPO"), ("BI", "EMS"), ("NL", "HUB")


@pytest.fixture(scope="module")
def pair(hub: HubProcess) -> Iterator[Pair]:
    with cpo_and_emsp(hub, "BI") as found:
        yield found


def raw_call(
    member: Member, method: str, target: str, body: bytes | None = None, **extra: str
) -> client.HttpResult:
    headers = {
        "Authorization": f"Token {b64(member.fake.peer_token or '')}",
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
        "Content-Type": "application/json",
        **extra,
    }
    return client.raw_request(method, member.hub.url, target, body=body, headers=headers)


@pytest.mark.parametrize("value", ["Token caf\u00e9", "Token \u00ff\u00fe", "Token abc\u00a0def"])
def test_an_authorization_header_with_bytes_beyond_ascii_is_401(
    hub: HubProcess, value: str
) -> None:
    status, _, answer = client.raw_request(
        "GET", hub.url, "/ocpi/versions", headers={"Authorization": value}
    )
    assert (status, answer["status_code"]) == (401, 2000), answer


@pytest.mark.parametrize(
    "query",
    [
        "offset=%C2%B2",
        "offset=" + "9" * 5000,
        "limit=-1",
        "limit=1e3",
        "offset=%EF%BC%91",
    ],
)
def test_pagination_parameters_that_are_not_plain_numbers_are_2001(pair: Pair, query: str) -> None:
    for path in (f"{V}/sender/locations?{query}", f"{V}/hubclientinfo?{query}"):
        status, _, answer = pair.emsp.call("GET", path, frm=EMSP, to=HUB)
        assert (status, answer["status_code"]) == (400, 2001), (path, answer)


DEEP_ARRAY = b"[" * 10_000 + b"]" * 10_000
DEEP_OBJECT = b'{"a":' * 10_000 + b"1" + b"}" * 10_000


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", f"{V}/receiver/locations/BI/CPO/L-DEEP"),  # read by the hub
        ("PATCH", f"{V}/receiver/locations/BI/CPO/L-DEEP"),
        ("POST", f"{V}/receiver/cdrs"),
        ("GET", f"{V}/receiver/tariffs/BI/CPO/T-DEEP"),  # forwarded unread
    ],
)
def test_json_nested_ten_thousand_deep_is_refused(
    pair: Pair, body: bytes, method: str, path: str
) -> None:
    status, _, answer = raw_call(
        pair.cpo, method, path, body, **{"OCPI-to-country-code": "BI", "OCPI-to-party-id": "EMS"}
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert "nested too deeply" in answer["status_message"]


def test_deep_json_to_credentials_and_admin_is_refused(hub: HubProcess) -> None:
    created = hub.add_platform("Deep", ("BI", "DEE", "CPO"))
    status, _, answer = client.raw_request(
        "POST",
        hub.url,
        f"{V}/credentials",
        body=DEEP_OBJECT,
        headers={"Authorization": f"Token {b64(created['token_a'])}"},
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    status, _, refused = client.raw_request(
        "POST",
        hub.url,
        "/admin/platforms",
        body=DEEP_ARRAY,
        headers={"Authorization": f"Bearer {hub.admin_token}"},
    )
    assert status == 400, refused


def test_a_receivers_answer_nested_ten_thousand_deep_is_4000(pair: Pair) -> None:
    deep = b'{"status_code": 1000, "data": ' + DEEP_ARRAY + b"}"
    pair.emsp.fake.responder = lambda _: (200, deep)
    try:
        status, _, answer = pair.cpo.call(
            "GET", f"{V}/receiver/tariffs/BI/CPO/T-DEEP", frm=CPO, to=EMSP
        )
    finally:
        pair.emsp.fake.responder = None
    assert (status, answer["status_code"]) == (502, 4000), answer


@pytest.mark.parametrize(
    ("method", "path", "http_status", "ocpi_status"),
    [
        ("DELETE", f"{V}/receiver/locations/BI/CPO/L-1/E-1", 405, 2000),  # locations: no DELETE
        ("DELETE", f"{V}/receiver/locations/BI/CPO", 405, 2000),
        ("DELETE", f"{V}/receiver/tariffs/BI/CPO", 400, 2001),  # no tariff id
        ("DELETE", f"{V}/receiver/tariffs/BI/CPO/T-1/extra", 400, 2001),
        ("PUT", f"{V}/receiver/tariffs/BI/CPO", 400, 2001),
        ("GET", f"{V}/sender/locations/L-1/E-1/C-1/extra", 400, 2001),
    ],
)
def test_broadcast_calls_with_the_wrong_number_of_ids_are_refused(
    pair: Pair, method: str, path: str, http_status: int, ocpi_status: int
) -> None:
    member = pair.emsp if "/sender/" in path else pair.cpo
    party = EMSP if member is pair.emsp else CPO
    status, _, answer = member.call(method, path, body={}, frm=party, to=HUB)
    assert (status, answer["status_code"]) == (http_status, ocpi_status), answer


def test_a_client_that_hangs_up_mid_body_is_its_own_loss(pair: Pair) -> None:
    hub = pair.cpo.hub
    with socket.create_connection(("127.0.0.1", hub.port), timeout=5) as connection:
        request_id = f"hangup-{uuid.uuid4()}"
        head = (
            f"PUT {V}/receiver/locations/BI/CPO/L-HANG HTTP/1.1\r\n"
            f"Host: 127.0.0.1\r\nAuthorization: Token {b64(pair.cpo.fake.peer_token or '')}\r\n"
            f"X-Request-ID: {request_id}\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000\r\n\r\n"
        )
        connection.sendall(head.encode() + b'{"id": "L-HA')
    deadline = time.monotonic() + 10
    while request_id not in hub.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    line = next(line for line in hub.log().splitlines() if request_id in line)
    assert " 499 " in line
    # And the hub serves on.
    status, _, answer = pair.cpo.call(
        "PUT", f"{V}/receiver/locations/BI/CPO/L-AFTER", body=location(CPO, "L-AFTER"), to=EMSP
    )
    assert (status, answer["status_code"]) == (200, 1000), answer


@pytest.mark.parametrize("timeout", [1e308, 1e17, -5, -1e308, 0])
def test_any_command_timeout_lets_the_answer_and_the_result_through(
    pair: Pair, timeout: float
) -> None:
    def accept(request: RecordedRequest) -> tuple[Any, ...] | None:
        if "/commands/receiver/" not in request.path:
            return None
        data = {"result": "ACCEPTED", "timeout": timeout}
        return 200, {"data": data, "status_code": 1000, "timestamp": "2026-12-01T10:00:00Z"}

    original = f"{pair.emsp.fake.base_url}/ocpi/2.2.1/commands/sender/START-{timeout}"
    start = {"response_url": original, "token": token(EMSP, "T-CMD"), "location_id": "L-1"}
    pair.cpo.fake.responder = accept
    try:
        status, _, answer = pair.emsp.call(
            "POST", f"{V}/receiver/commands/START_SESSION", body=start, frm=EMSP, to=CPO
        )
    finally:
        pair.cpo.fake.responder = None
    assert (status, answer["status_code"]) == (200, 1000), answer
    assert answer["data"]["timeout"] == timeout

    sent = pair.cpo.received("POST", "/ocpi/2.2.1/commands/receiver/START_SESSION")[-1]
    status, _, answer = pair.cpo.call(
        "POST", sent.body["response_url"], body={"result": "ACCEPTED"}
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    assert pair.emsp.received("POST", f"/ocpi/2.2.1/commands/sender/START-{timeout}")


# --- keys that the hub reads ----------------------------------------------------------------


def _twice(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


LOCATION = json.dumps(location(CPO, "L-TWICE"))


@pytest.mark.parametrize(
    ("document", "key"),
    [
        # The owner check would read the last party_id, a receiver perhaps the first.
        (LOCATION[:-1] + ', "party_id": "EMS"}', "party_id"),
        (_twice(LOCATION, '"latitude": "52.0"', '"latitude": "52.0", "latitude": "1"'), "latitude"),
    ],
)
def test_a_key_given_twice_is_2001(pair: Pair, document: str, key: str) -> None:
    status, _, answer = raw_call(
        pair.cpo,
        "PUT",
        f"{V}/receiver/locations/BI/CPO/L-TWICE",
        document.encode(),
        **{"OCPI-to-country-code": "BI", "OCPI-to-party-id": "EMS"},
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert key in answer["status_message"]
    assert pair.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/BI/CPO/L-TWICE") == []


def test_a_key_given_twice_to_the_admin_api_is_400(hub: HubProcess) -> None:
    role = b'{"country_code": "BI", "party_id": "TWO", "role": "CPO"}'
    body = b'{"name": "a", "name": "b", "roles": [' + role + b"]}"
    status, _, answer = client.raw_request(
        "POST",
        hub.url,
        "/admin/platforms",
        body=body,
        headers={"Authorization": f"Bearer {hub.admin_token}"},
    )
    assert status == 400, answer
    assert "name" in answer["error"]


# --- party ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("country_code", "party_id"), [("BI", "A:B"), ("B:", "CPO"), ("BI", "CP "), ("BI", "CPOX")]
)
def test_routing_headers_with_party_ids_that_are_not_letters_or_digits_are_2001(
    pair: Pair, country_code: str, party_id: str
) -> None:
    status, _, answer = pair.cpo.call(
        "GET",
        f"{V}/receiver/tariffs/BI/CPO/T-1",
        headers={"OCPI-to-country-code": country_code, "OCPI-to-party-id": party_id},
        frm=CPO,
    )
    assert (status, answer["status_code"]) == (400, 2001), answer


def test_a_credentials_offer_with_a_bad_party_id_is_2001(hub: HubProcess) -> None:
    created = hub.add_platform("Colon", ("BI", "COL", "CPO"))
    offer = {
        "token": "whatever-token",
        "url": "http://127.0.0.1:1/ocpi/versions",
        "roles": [
            {
                "role": "CPO",
                "party_id": "A:B",
                "country_code": "BI",
                "business_details": {"name": "x"},
            }
        ],
    }
    status, _, answer = client.request(
        "POST",
        f"{hub.url}{V}/credentials",
        body=offer,
        headers={"Authorization": f"Token {b64(created['token_a'])}"},
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert "party_id" in answer["status_message"]
