"""A hostile platform against the hub: nothing it sends may reach past the module endpoint it
addresses, change state through a method the endpoint does not define, or get a 500."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import client
from tests.e2e.network import Member, Pair, cpo_and_emsp, member
from tests.e2e.objects import cdr, location, token
from tests.hubproc import HubProcess
from tests.ownhub import own_hub
from tests.parties import FakePlatform, Responder, b64, free_port

V = "/ocpi/2.2.1"
CPO, EMSP = ("HS", "CPO"), ("HS", "EMS")


@pytest.fixture(scope="module")
def pair(hub: HubProcess) -> Iterator[Pair]:
    with cpo_and_emsp(hub, "HS") as found:
        yield found


def headers(member: Member, *, to: tuple[str, str] | None = EMSP) -> dict[str, str]:
    sent = {
        "Authorization": f"Token {b64(member.fake.peer_token or '')}",
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
        "OCPI-from-country-code": member.party[0],
        "OCPI-from-party-id": member.party[1],
    }
    if to is not None:
        sent["OCPI-to-country-code"], sent["OCPI-to-party-id"] = to
    return sent


def outside_module(emsp: Member, module: str, role: str) -> list[str]:
    """What reached the eMSP's server since its registration outside its module endpoints
    (the credentials endpoint above all), and under ``module`` anything but ``role``'s."""
    since = emsp.fake.find_requests()[2:]  # the hub read its versions and version details
    endpoints = [f"/ocpi/2.2.1/{m}/{r.lower()}/" for m, r in emsp.fake.modules]
    return [
        f"{r.method} {r.path}"
        for r in since
        if not any(r.path.startswith(e) or r.path == e[:-1] for e in endpoints)
        or (f"/{module}/" in r.path and f"/{module}/{role}/" not in r.path)
    ]


TRAVERSALS = [
    "../../credentials",
    "HS/CPO/../../../../credentials",
    "%2E%2E/%2E%2E/credentials",
    "%2e%2e/%2e%2e/credentials",
    "..%2F..%2Fcredentials",
    "%2e%2e%2f%2e%2e%2fcredentials",
    "..%5C..%5Ccredentials",
    "..\\..\\credentials",
    "%252E%252E/%252E%252E/credentials",
    "%252e%252e%252f%252e%252e%252fcredentials",
    "HS/CPO/LOC%00",
    "HS/CPO/LOC%0D%0AX-Injected:%20yes",
    "HS//CPO/LOC",
    "HS/./CPO/LOC",
    "HS/CPO/.",
    "HS/CPO/%2E",
    "HS/CPO/%C3%A9",
]


@pytest.mark.parametrize("rest", TRAVERSALS)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_no_encoding_of_a_path_leaves_the_module_endpoint(
    pair: Pair, rest: str, method: str
) -> None:
    body = b'{"token": "mine", "url": "http://127.0.0.1:1/", "roles": []}'
    status, _, answer = client.raw_request(
        method,
        pair.cpo.hub.url,
        f"{V}/receiver/tariffs/{rest}",
        body=body if method == "PUT" else None,
        headers={**headers(pair.cpo), "Content-Type": "application/json"},
    )

    if "%0A" in rest:  # no route matches a path with a line break in it
        assert (status, answer["status_code"]) == (404, 2000), answer
    else:
        assert (status, answer["status_code"]) == (400, 2001), answer
    assert outside_module(pair.emsp, "tariffs", "receiver") == []
    assert pair.emsp.fake.registered  # its credentials with the hub are untouched


@pytest.mark.parametrize(
    "target",
    [
        f"{V}/receiver/tariffs%2F..%2F..%2Fcredentials",
        f"{V}/receiver/tariffs%2F..%2F..%2Fcredentials/HS/CPO/T-1",
        f"{V}%2Freceiver/tariffs/HS/CPO/T-1",
    ],
)
def test_an_encoded_slash_in_the_module_part_is_refused(pair: Pair, target: str) -> None:
    status, _, answer = client.raw_request(
        "GET", pair.cpo.hub.url, target, headers=headers(pair.cpo)
    )

    assert status in (400, 404), answer
    assert answer["status_code"] in (2001, 2000)
    assert outside_module(pair.emsp, "tariffs", "receiver") == []


def test_ids_reach_the_receiver_one_segment_each(pair: Pair) -> None:
    """Ids keep their characters, re-encoded per segment: a space, a colon, a plus."""
    status, _, answer = client.raw_request(
        "GET", pair.cpo.hub.url, f"{V}/receiver/tariffs/HS/CPO/T%201:+a", headers=headers(pair.cpo)
    )

    assert (status, answer["status_code"]) == (200, 1000), answer
    got = pair.emsp.received("GET", "/ocpi/2.2.1/tariffs/receiver/HS/CPO/")[-1]
    assert got.path == "/ocpi/2.2.1/tariffs/receiver/HS/CPO/T 1:+a"


def test_head_on_credentials_is_405_and_the_platform_stays_connected(pair: Pair) -> None:
    hub = pair.cpo.hub
    for method in ("HEAD", "PATCH", "OPTIONS", "TRACE", "PROPFIND"):
        status, answer_headers, answer = client.raw_request(
            method, hub.url, f"{V}/credentials", headers=headers(pair.cpo, to=None)
        )
        assert status == 405, (method, answer)
        assert answer_headers["allow"] == "DELETE, GET, POST, PUT"
        if method != "HEAD":  # a HEAD answer has no body
            assert answer["status_code"] == 2000

    assert hub.platform(pair.cpo.id)["status"] == "CONNECTED"
    status, _, answer = pair.cpo.call("GET", f"{V}/credentials")
    assert (status, answer["status_code"]) == (200, 1000)


@pytest.mark.parametrize(
    ("path", "method", "allowed"),
    [
        ("/ocpi/versions", "POST", "GET"),
        (V, "DELETE", "GET"),
        (f"{V}/hubclientinfo", "PUT", "GET"),
        (f"{V}/receiver/locations/HS/CPO/L1", "DELETE", "GET, PATCH, PUT"),
        (f"{V}/receiver/locations/HS/CPO/L1", "HEAD", "GET, PATCH, PUT"),
        (f"{V}/receiver/tariffs/HS/CPO/T1", "PATCH", "DELETE, GET, PUT"),
        (f"{V}/receiver/cdrs", "PUT", "GET, POST"),
        (f"{V}/receiver/commands/START_SESSION", "GET", "POST"),
        (f"{V}/sender/tokens/T1/authorize", "PUT", "GET, POST"),
        (f"{V}/sender/locations", "POST", "GET"),
        (f"{V}/via/{'x' * 24}", "DELETE", "GET, POST"),
    ],
)
def test_methods_an_endpoint_does_not_define_are_405_before_anything_else(
    pair: Pair, path: str, method: str, allowed: str
) -> None:
    before = len(pair.emsp.received())  # HubClientInfo pushes left out: they come any time
    status, answer_headers, answer = client.raw_request(
        method, pair.cpo.hub.url, path, headers=headers(pair.cpo)
    )

    assert status == 405, answer
    assert answer_headers["allow"] == allowed
    assert answer_headers["x-request-id"]
    if method != "HEAD":
        assert answer["status_code"] == 2000
    assert len(pair.emsp.received()) == before


@pytest.mark.parametrize("proxy_id", ["..", "..%2F..%2Fx", "a" * 300, "%00", "x y"])
def test_malformed_hub_urls_are_unknown(pair: Pair, proxy_id: str) -> None:
    status, _, answer = client.raw_request(
        "GET",
        pair.cpo.hub.url,
        f"{V}/via/{proxy_id.replace(' ', '%20')}",
        headers=headers(pair.cpo),
    )
    assert status == 404, answer
    assert answer["status_code"] == 2000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Request-ID", "r" * 256),
        ("X-Correlation-ID", "c" * 1000),
        ("X-Request-ID", "a b"),
        ("X-Request-ID", 'x" sender="forged'),
        ("X-Correlation-ID", "caf\u00e9"),
    ],
)
def test_request_ids_that_cannot_be_logged_safely_are_refused(
    pair: Pair, name: str, value: str
) -> None:
    sent = {**headers(pair.cpo), name: value}
    status, answer_headers, answer = client.raw_request(
        "PUT",
        pair.cpo.hub.url,
        f"{V}/receiver/locations/HS/CPO/L-IDS",
        body=b"{}",
        headers={**sent, "Content-Type": "application/json"},
    )

    assert (status, answer["status_code"]) == (400, 2001), answer
    assert name in answer["status_message"]
    # Fresh ids go back instead, and nothing was forwarded.
    assert answer_headers[name.lower()] != value
    assert len(answer_headers[name.lower()]) == 36
    assert pair.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/HS/CPO/L-IDS") == []
    assert value not in pair.cpo.hub.log()


def test_a_request_id_of_255_characters_is_echoed(pair: Pair) -> None:
    request_id = "r" * 255
    status, answer_headers, _ = client.raw_request(
        "GET",
        pair.cpo.hub.url,
        f"{V}/receiver/tariffs/HS/CPO/T-ID",
        headers={**headers(pair.cpo), "X-Request-ID": request_id},
    )
    assert status == 200
    assert answer_headers["x-request-id"] == request_id


def _put(pair: Pair, location_id: str, name: str, value: str) -> http.client.HTTPConnection:
    """A location PUT whose headers are sent, with ``name: value``, and no body yet."""
    connection = http.client.HTTPConnection("127.0.0.1", pair.cpo.hub.port, timeout=20)
    connection.putrequest("PUT", f"{V}/receiver/locations/HS/CPO/{location_id}")
    for header, text in {**headers(pair.cpo), "Content-Type": "application/json"}.items():
        connection.putheader(header, text)
    connection.putheader(name, value)
    connection.endheaders()
    return connection


def test_a_body_declared_over_the_limit_is_413_without_being_read(pair: Pair) -> None:
    """Content-Length over --max-body-size: answered before the body is sent at all."""
    connection = _put(pair, "L-BIG", "Content-Length", str(64 * 1024 * 1024))
    try:
        # and not one byte of the 64 MiB body
        response = connection.getresponse()
        status, answer = response.status, response.read()
        assert status == 413
        assert response.getheader("connection") == "close"
        assert response.getheader("x-request-id")
    finally:
        connection.close()
    assert json.loads(answer)["status_code"] == 2000
    assert pair.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/HS/CPO/L-BIG") == []


def test_a_body_over_the_limit_without_a_length_is_413(pair: Pair) -> None:
    """Chunked: the hub stops reading once the body passes --max-body-size (4 MiB)."""
    document = location(CPO, "L-CHUNKED")
    document["name"] = "x" * (5 * 1024 * 1024)
    body = json.dumps(document).encode()
    connection = _put(pair, "L-CHUNKED", "Transfer-Encoding", "chunked")
    try:
        try:
            for start in range(0, len(body), 65536):
                chunk = body[start : start + 65536]
                connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            connection.send(b"0\r\n\r\n")
        except OSError:
            pass  # the hub may close the connection once it has answered
        response = connection.getresponse()
        status, answer = response.status, response.read()
    finally:
        connection.close()
    assert status == 413
    assert json.loads(answer)["status_code"] == 2000
    assert pair.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/HS/CPO/L-CHUNKED") == []


def test_a_body_under_the_limit_passes(pair: Pair) -> None:
    document = location(CPO, "L-MEDIUM")
    document["name"] = "x" * (1024 * 1024)
    status, _, answer = pair.cpo.call(
        "PUT", f"{V}/receiver/locations/HS/CPO/L-MEDIUM", body=document, frm=CPO, to=EMSP
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    (got,) = pair.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/HS/CPO/L-MEDIUM")
    assert got.body == document


# --- what a hostile receiver answers ----------------------------------------------------------


@contextmanager
def answering(member: Member, responder: Responder) -> Iterator[None]:
    member.fake.responder = responder
    try:
        yield
    finally:
        member.fake.responder = None


def ok(**headers: str) -> Responder:
    body = {"status_code": 1000, "timestamp": "2026-12-01T10:00:00Z"}
    return lambda _: (200, body, headers)


def test_routing_headers_of_an_answer_name_the_parties_the_hub_knows(pair: Pair) -> None:
    forged = ok(
        **{
            "OCPI-from-country-code": "XX",
            "OCPI-from-party-id": "FAK",
            "OCPI-to-country-code": "YY",
            "OCPI-to-party-id": "FAK",
            "X-Total-Count": "12; rel=evil",
            "X-Limit": "50",
        }
    )
    with answering(pair.emsp, forged):
        status, answer_headers, answer = pair.cpo.call(
            "GET", f"{V}/receiver/tariffs/HS/CPO/T-HDR", frm=CPO, to=EMSP
        )
    assert (status, answer["status_code"]) == (200, 1000)
    got = {k: answer_headers[k] for k in answer_headers if k.startswith("ocpi-")}
    assert got == {
        "ocpi-from-country-code": "HS",
        "ocpi-from-party-id": "EMS",
        "ocpi-to-country-code": "HS",
        "ocpi-to-party-id": "CPO",
    }
    assert "x-total-count" not in answer_headers
    assert answer_headers["x-limit"] == "50"


@pytest.mark.parametrize(
    "link",
    [
        '<gopher://example.com/1/next>; rel="next"',
        '<file:///etc/passwd>; rel="next"',
        '<http:///no-host>; rel="next"',
    ],
)
def test_a_next_page_the_hub_would_not_call_is_4000(pair: Pair, link: str) -> None:
    with answering(pair.emsp, ok(Link=link)):
        status, answer_headers, answer = pair.cpo.call(
            "GET", f"{V}/receiver/tariffs/HS/CPO/T-LINK", frm=CPO, to=EMSP
        )
    assert (status, answer["status_code"]) == (502, 4000), answer
    assert "next page link" in answer["status_message"]
    assert "link" not in answer_headers


def test_a_cdr_location_the_hub_would_not_call_is_4000(pair: Pair) -> None:
    with answering(pair.emsp, ok(Location="ftp://example.com/cdrs/1")):
        status, answer_headers, answer = pair.cpo.call(
            "POST", f"{V}/receiver/cdrs", body=cdr(CPO, "CDR-LOC", EMSP), frm=CPO, to=EMSP
        )
    assert (status, answer["status_code"]) == (502, 4000), answer
    assert "location" not in answer_headers


def test_a_redirect_is_the_receivers_answer_and_is_not_followed(pair: Pair) -> None:
    fake = pair.emsp.fake
    target = f"{fake.base_url}/ocpi/2.2.1/credentials"
    with answering(pair.emsp, lambda _: (307, b"", {"Location": target})):
        status, _, answer = pair.cpo.call(
            "GET", f"{V}/receiver/tariffs/HS/CPO/T-REDIR", frm=CPO, to=EMSP
        )
    assert (status, answer["status_code"]) == (502, 4000), answer
    assert outside_module(pair.emsp, "tariffs", "receiver") == []


@pytest.mark.parametrize("url", ["file:///etc/passwd", "gopher://example.com/", "not a url"])
def test_a_response_url_the_hub_would_not_call_is_2001(pair: Pair, url: str) -> None:
    start = {
        "response_url": url,
        "token": token(EMSP, "T-CMD"),
        "location_id": "LOC-1",
    }
    before = len(pair.cpo.received())  # HubClientInfo pushes left out: they come any time
    status, _, answer = pair.emsp.call(
        "POST", f"{V}/receiver/commands/START_SESSION", body=start, frm=EMSP, to=CPO
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert "response_url" in answer["status_message"]
    assert len(pair.cpo.received()) == before


def test_an_answer_over_the_limit_is_4000(tmp_path: Path) -> None:
    with (
        own_hub(tmp_path / "data", max_response_size=100000) as hub,
        member(hub, ("HL", "CPO", "CPO")) as cpo,
        member(hub, ("HL", "EMS", "EMSP")) as emsp,
    ):
        big = {"status_code": 1000, "data": ["x" * 1000] * 200, "timestamp": "2026-12-01T10:00:00Z"}
        with answering(emsp, lambda _: (200, big)):
            status, _, answer = cpo.call(
                "GET", f"{V}/receiver/tariffs/HL/CPO/T-BIG", frm=("HL", "CPO"), to=("HL", "EMS")
            )
        assert (status, answer["status_code"]) == (502, 4000), answer
        assert "larger than the hub accepts" in answer["status_message"]


# --- the URL guard at registration ----------------------------------------------------------


def test_a_platform_on_a_loopback_address_cannot_register(tmp_path: Path) -> None:
    """Without --allow-private-urls the hub never calls a platform's loopback URL."""
    with (
        own_hub(tmp_path / "data", allow_private_urls=False) as hub,
        FakePlatform(roles=[("HG", "CPO", "CPO")]) as fake,
    ):
        created = hub.add_platform("Loopback", ("HG", "CPO", "CPO"))
        status, answer = fake.register(hub.versions_url, created["token_a"])
        assert (status, answer["status_code"]) == (400, 3001), answer
        assert "loopback address" in answer["status_message"]

        status, _, refused = hub.admin(
            "POST",
            f"/platforms/{created['id']}/connect",
            {"versions_url": fake.versions_url, "token": fake.token_a},
        )
        assert (status, refused["ocpi_status"]) == (502, 3001), refused
        assert "loopback address" in refused["error"]
        assert fake.find_requests() == []
        assert hub.platform(created["id"])["status"] == "PLANNED"


def test_registration_errors_say_what_failed_in_general_terms(hub: HubProcess) -> None:
    """A closed port, a port that is no HTTP server: the same words, not the socket's."""
    created = hub.add_platform("Closed", ("HG", "CLO", "CPO"))
    secret = "token-a-" + uuid.uuid4().hex
    for versions_url in (f"http://127.0.0.1:{free_port()}/ocpi/versions", redis_like()):
        status, _, answer = hub.admin(
            "POST",
            f"/platforms/{created['id']}/connect",
            {"versions_url": versions_url, "token": secret},
        )
        assert (status, answer["ocpi_status"]) == (502, 3001), answer
        assert answer["error"].endswith(": could not connect"), answer
    # The operator's log has the low-level reason, and never the token.
    assert "Connect call failed" in hub.log()
    assert secret not in hub.log()
    assert b64(secret) not in hub.log()


def redis_like() -> str:
    """The URL of a port where something that is not HTTP answers (once) and hangs up."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        with server:
            server.settimeout(10)
            try:
                connection, _ = server.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"-ERR unknown command\r\n")

    threading.Thread(target=serve, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}/ocpi/versions"
