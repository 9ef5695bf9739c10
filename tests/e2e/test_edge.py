"""The HTTP server edge of the hub (uvicorn with hub.server.protocol, as ``ocpi-hub serve`` runs
it, here in this process), over raw sockets on 127.0.0.1: clients that never finish a request,
connection limits, and the answers the server gives before any app sees a request (unparsable
requests, heads too large)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import pytest

from tests import client
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import FakePlatform

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: hub\r\n\r\n"


def connect(hub: InProcessHub) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", hub.port), timeout=20)
    return sock


@contextmanager
def connections(hub: InProcessHub, count: int) -> Iterator[list[socket.socket]]:
    with ExitStack() as stack:
        yield [stack.enter_context(connect(hub)) for _ in range(count)]


def until_closed(sock: socket.socket, timeout: float = 15.0) -> tuple[float, bytes]:
    """Read until the hub closes the connection: (seconds it took, everything it sent)."""
    began = time.monotonic()
    received = b""
    sock.settimeout(timeout)
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            return time.monotonic() - began, received
        received += chunk
        assert time.monotonic() - began < timeout, "the hub did not close the connection"


def response(data: bytes) -> tuple[int, dict[str, str], Any]:
    """(status, lower-cased headers, JSON body) of one HTTP response with a Content-Length."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    length = int(headers["content-length"])
    assert len(body) >= length, data
    return int(status_line.split()[1]), headers, json.loads(body[:length])


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One response on a connection that stays open."""
    data = b""
    sock.settimeout(20)
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before an answer: {data!r}"
        data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    length = int(re.search(r"content-length: *(\d+)", head).group(1))  # type: ignore[union-attr]
    while len(data) < len(head) + 4 + length:
        data += sock.recv(65536)
    return response(data)


def assert_is_served(hub: InProcessHub) -> None:
    assert client.request("GET", f"{hub.url}/healthz", timeout=10)[0] == 200


def assert_envelope(
    answer: tuple[int, dict[str, str], Any], status: int, ocpi_status: int
) -> dict[str, str]:
    got, headers, body = answer
    assert got == status
    assert headers["content-type"] == "application/json"
    assert body["status_code"] == ocpi_status and body["status_message"] and body["timestamp"]
    assert headers["connection"] == "close"
    return headers


# --- clients that never finish -----------------------------------------------------------------


@pytest.fixture(scope="module")
def quick_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHub]:
    """A hub whose clients have one second per request."""
    data = tmp_path_factory.mktemp("edge") / "data"
    with own_hub(data, client_timeout=1) as hub:
        yield hub


def test_a_connection_that_sends_nothing_is_closed_after_the_timeout(
    quick_hub: InProcessHub,
) -> None:
    with connect(quick_hub) as silent:
        assert_is_served(quick_hub)
        took, sent = until_closed(silent)
    assert 0.5 < took < 10 and sent == b""


def test_half_a_head_is_answered_408_and_closed_after_the_timeout(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as half:
        half.sendall(b"GET /healthz HTTP/1.1\r\nX-Request-ID: half-1\r\nHost: hub\r\n")
        assert_is_served(quick_hub)
        took, sent = until_closed(half)
    assert 0.5 < took < 10
    headers = assert_envelope(response(sent), 408, 2000)
    assert headers["x-request-id"] == "half-1"


def test_a_body_sent_slowly_is_cut_off_after_the_timeout(quick_hub: InProcessHub) -> None:
    # Without a token the hub answers 401 at once; the client still owes the rest of its body
    # and sends it a byte at a time. (An app that waits for a body gets http.disconnect:
    # tests/test_server.py.)
    head = (
        b"POST /ocpi/2.2.1/credentials HTTP/1.1\r\nHost: hub\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    with connect(quick_hub) as slow:
        began = time.monotonic()
        slow.sendall(head)
        assert_is_served(quick_hub)
        for _ in range(100):
            try:
                slow.sendall(b" ")
            except OSError:
                break
            time.sleep(0.2)
        _, sent = until_closed(slow)
    assert 0.5 < time.monotonic() - began < 10
    assert sent.startswith(b"HTTP/1.1 401 ")
    assert_is_served(quick_hub)


def test_the_timeout_counts_from_the_first_byte_not_from_the_last(quick_hub: InProcessHub) -> None:
    """A client dripping a byte at a time never completes its request in time."""
    request = b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Slow: " + b"x" * 100
    with connect(quick_hub) as drip:
        began = time.monotonic()
        for byte in request:
            try:
                drip.sendall(bytes([byte]))
            except OSError:
                break
            time.sleep(0.1)
            if time.monotonic() - began > 10:
                break
        until_closed(drip)
    assert time.monotonic() - began < 8


def test_empty_lines_between_requests_cannot_hold_a_connection(quick_hub: InProcessHub) -> None:
    """Empty lines before a request are allowed (RFC 9112, 2.2) and start no request; each
    one used to reset uvicorn's keep-alive timer, so they could hold a connection forever."""
    with connect(quick_hub) as lines:
        lines.sendall(HEALTHZ)
        assert read_response(lines)[0] == 200
        began = time.monotonic()
        for _ in range(100):
            try:
                lines.sendall(b"\r\n")
            except OSError:
                break
            time.sleep(0.2)
        until_closed(lines)
    assert time.monotonic() - began < 10


def test_an_upgrade_request_is_plain_http(quick_hub: InProcessHub) -> None:
    """The hub upgrades to nothing (WebSocket off): no advice to install a library for it."""
    with connect(quick_hub) as upgrade:
        upgrade.sendall(HEALTHZ[:-2] + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
        assert read_response(upgrade)[0] == 200
    assert "WebSocket" not in quick_hub.log()


def test_a_slow_answer_is_not_the_clients_delay(quick_hub: InProcessHub) -> None:
    """Once the request is in, the time it takes the hub (here: a platform answering slowly
    during a registration) does not count."""
    created = quick_hub.add_platform("Slow", ("NL", "SLO", "EMSP"))
    with FakePlatform(roles=[("NL", "SLO", "EMSP")]) as slow:
        slow.delay = 0.7  # the hub reads its versions and their details: 1.4 s
        status, answer = slow.register(quick_hub.versions_url, created["token_a"])
    assert (status, answer["status_code"]) == (200, 1000)


def test_a_kept_alive_connection_serves_request_after_request(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as kept:
        kept.sendall(HEALTHZ)
        assert read_response(kept)[0] == 200
        # Idle between requests for longer than the client timeout: that is uvicorn's
        # keep-alive (5 s), not the client timeout.
        time.sleep(1.5)
        kept.sendall(HEALTHZ)
        assert read_response(kept)[0] == 200


# --- answers before the app ----------------------------------------------------------------------


def test_garbage_is_answered_with_the_envelope_and_new_ids(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as garbage:
        garbage.sendall(b"\x16\x03\x01\x02\x00 hello\r\n\r\n")
        _, sent = until_closed(garbage)
    headers = assert_envelope(response(sent), 400, 2000)
    assert UUID.fullmatch(headers["x-request-id"])
    assert UUID.fullmatch(headers["x-correlation-id"])
    assert headers["x-request-id"] != headers["x-correlation-id"]


def test_a_bad_header_is_answered_with_the_envelope_and_its_ids(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as bad:
        bad.sendall(
            b"GET /healthz HTTP/1.1\r\nX-Request-ID: req-1\r\nX-Correlation-ID: corr-1\r\n"
            b"Host: hub\r\nBroken header line\r\n\r\n"
        )
        _, sent = until_closed(bad)
    headers = assert_envelope(response(sent), 400, 2000)
    assert (headers["x-request-id"], headers["x-correlation-id"]) == ("req-1", "corr-1")


def test_a_url_that_cannot_be_read_is_answered_with_the_envelope(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as bad:
        bad.sendall(b"GET http://hub:99999999/ HTTP/1.1\r\nX-Request-ID: url-1\r\nHost: x\r\n\r\n")
        _, sent = until_closed(bad)
    headers = assert_envelope(response(sent), 400, 2000)
    assert headers["x-request-id"] == "url-1"


@pytest.mark.parametrize(
    "unsafe",
    [b"x" * 256, b"two words", b"caf\xc3\xa9", b""],
    ids=["long", "space", "utf8", "empty"],
)
def test_unsafe_ids_are_not_echoed(quick_hub: InProcessHub, unsafe: bytes) -> None:
    with connect(quick_hub) as bad:
        bad.sendall(
            b"GET /healthz HTTP/1.1\r\nX-Request-ID: " + unsafe + b"\r\nX-Correlation-ID: ok-1\r\n"
            b"Host: hub\r\nBroken header line\r\n\r\n"
        )
        _, sent = until_closed(bad)
    headers = assert_envelope(response(sent), 400, 2000)
    assert UUID.fullmatch(headers["x-request-id"])
    assert headers["x-correlation-id"] == "ok-1"


def test_a_head_too_large_is_answered_431(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as large:
        # Far more than the limit, in one header line: nothing is read past the limit.
        head = b"GET /healthz HTTP/1.1\r\nX-Request-ID: big-1\r\nX-Big: "
        with suppress(OSError):  # the hub may close before it has all of it
            large.sendall(head + b"x" * (4 * 1024 * 1024))
        _, sent = until_closed(large)
    headers = assert_envelope(response(sent), 431, 2000)
    assert headers["x-request-id"] == "big-1"
    assert_is_served(quick_hub)


def test_a_large_head_within_the_limit_is_served(quick_hub: InProcessHub) -> None:
    with connect(quick_hub) as large:
        large.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\nX-Big: " + b"x" * 40000 + b"\r\n\r\n")
        assert read_response(large)[0] == 200


# --- the connection limit ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHub]:
    """A hub for four client connections at a time. Each test leaves none open."""
    data = tmp_path_factory.mktemp("limit") / "data"
    with own_hub(data, max_connections=4, client_timeout=30) as hub:
        yield hub


def test_idle_connections_make_room_for_a_new_client(small_hub: InProcessHub) -> None:
    with connections(small_hub, 4) as idle:
        for sock in idle:  # each has finished a request and waits, kept alive
            sock.sendall(HEALTHZ)
            assert read_response(sock)[0] == 200
            time.sleep(0.01)  # an order in time: the first is the oldest
        assert_is_served(small_hub)
        # The oldest idle connection was closed for the new client; the others still serve.
        for sock in idle[1:]:
            sock.sendall(HEALTHZ)
            assert read_response(sock)[0] == 200
        with suppress(OSError):
            idle[0].sendall(HEALTHZ)
        assert until_closed(idle[0])[1] == b""


def test_a_new_client_is_refused_only_when_no_connection_is_idle(small_hub: InProcessHub) -> None:
    with connections(small_hub, 4) as busy:
        # Two have not sent anything yet, two are in the middle of a request: none is idle.
        for sock in busy[2:]:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: hub\r\n")
        with connect(small_hub) as refused:
            _, sent = until_closed(refused)
        assert_envelope(response(sent), 503, 3000)
        # They are served when they finish.
        for sock in busy[:2]:
            sock.sendall(HEALTHZ)
        for sock in busy[2:]:
            sock.sendall(b"\r\n")
        for sock in busy:
            assert read_response(sock)[0] == 200
        # Now they are idle: a new client takes the place of one of them.
        assert_is_served(small_hub)


def test_many_clients_at_once_against_a_small_limit(small_hub: InProcessHub) -> None:
    """Clients that come and go, many more than the limit: every one is answered (served, or
    refused with the envelope), and the hub serves afterwards."""
    answers: list[int] = []

    def one_client() -> None:
        for _ in range(5):
            try:
                with connect(small_hub) as sock:
                    sock.sendall(HEALTHZ)
                    answers.append(read_response(sock)[0])
            except (OSError, AssertionError):
                answers.append(0)

    threads = [threading.Thread(target=one_client) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 60
    assert set(answers) <= {200, 503, 0}
    assert answers.count(200) >= 4
    assert_is_served(small_hub)
