"""What operators watch: /metrics (one process, several workers, its own port) and the logs."""

from __future__ import annotations

import json
import re
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests import client
from tests.e2e.network import Hub, member
from tests.e2e.objects import location
from tests.hubproc import HubProcess
from tests.ownhub import own_hub
from tests.parties import free_port
from tests.waiting import wait_for

V = "/ocpi/2.2.1"
MakeHub = Callable[..., HubProcess]


def scrape(url: str) -> str:
    status, headers, body = client.request("GET", url)
    assert status == 200
    assert headers["content-type"].startswith("text/plain")
    return str(body)


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        match = re.match(rf"^{name}(?:{{(.*)}})? (\S+)$", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(2))
    return total


def traffic(hub: Hub, count: int) -> dict[str, Any]:
    """Register a CPO and an eMSP and push ``count`` locations; returns what was used."""
    with member(hub, ("NL", "MCP", "CPO")) as cpo, member(hub, ("NL", "MEM", "EMSP")) as emsp:
        for i in range(count):
            status, _, answer = cpo.call(
                "PUT",
                f"{V}/receiver/locations/NL/MCP/SECRET-LOC-{i}",
                body=location(("NL", "MCP"), f"SECRET-LOC-{i}"),
                to=emsp.party,
            )
            assert (status, answer["status_code"]) == (200, 1000), answer
        status, _, _ = cpo.call(
            "PUT", f"{V}/receiver/locations/NL/MCP/X", body={}, to=("NL", "ZZZ")
        )
        assert status == 400
        # HubClientInfo: each hears of the other (a moment after the registrations, and a
        # second after its own handshake) while both are still there.
        wait_for(lambda: cpo.received("PUT", f"{V}/hubclientinfo"), "HubClientInfo at the CPO")
        wait_for(lambda: emsp.received("PUT", f"{V}/hubclientinfo"), "HubClientInfo at the eMSP")
        return {"tokens": [cpo.fake.peer_token, emsp.fake.issued_token], "ids": cpo.sent[-1]}


def test_metrics_after_traffic(hub_factory: MakeHub) -> None:
    hub = hub_factory().start()
    used = traffic(hub, 3)
    text = scrape(f"{hub.url}/metrics")

    assert (
        value(
            text,
            "ocpi_hub_requests_total",
            module="locations",
            interface="RECEIVER",
            method="PUT",
            ocpi_status="1000",
            http_status="200",
        )
        == 3
    )
    assert value(text, "ocpi_hub_requests_total", module="locations", ocpi_status="2001") == 1
    assert value(text, "ocpi_hub_request_duration_seconds_count", module="locations") == 4
    assert value(text, "ocpi_hub_forward_duration_seconds_count", module="locations") == 3
    assert value(text, "ocpi_hub_routing_total", module="locations", mode="direct") == 3
    assert value(text, "ocpi_hub_routing_total", mode="refused", reason="InvalidParameters") == 1
    assert (
        value(
            text, "ocpi_hub_handshakes_total", kind="register", initiator="platform", outcome="ok"
        )
        == 2
    )
    assert value(text, "ocpi_hub_platforms", status="CONNECTED") == 2
    assert value(text, "ocpi_hub_embedded_redis_up") == 1
    assert value(text, "ocpi_hub_build_info") == 1
    assert "# TYPE ocpi_hub_queue_depth gauge" in text
    assert value(text, "ocpi_hub_deliveries_total", outcome="delivered") >= 1  # HubClientInfo
    # Bounded labels: no object ids, no tokens.
    assert "SECRET-LOC" not in text
    assert all(token not in text for token in used["tokens"])


def test_metrics_on_their_own_port(tmp_path: Path) -> None:
    port = free_port()
    # In this process, whose metrics every in-process hub shares: counted as differences.
    with own_hub(tmp_path / "data", metrics_port=port) as hub:
        own_port = f"http://127.0.0.1:{port}/metrics"
        pushed = {"module": "locations", "ocpi_status": "1000"}
        before = value(scrape(own_port), "ocpi_hub_requests_total", **pushed)
        traffic(hub, 1)
        assert value(scrape(own_port), "ocpi_hub_requests_total", **pushed) == before + 1
        main_port = scrape(f"{hub.url}/metrics")
        assert value(main_port, "ocpi_hub_requests_total", **pushed) == before + 1
        assert client.request("GET", f"http://127.0.0.1:{port}/other")[0] == 404
        # A head longer than the server reads, and more idle connections than it serves at
        # once, are dropped without a traceback (own_hub checks the log) and it serves on.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as long_head:
            long_head.sendall(b"GET /" + b"x" * 100_000 + b" HTTP/1.0\r\n\r\n")
            assert long_head.recv(100) == b""
        idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(40)]
        try:
            assert idle[-1].recv(100) == b""  # closed at once: over the limit
        finally:
            for connection in idle:
                connection.close()
        # Once the server has seen them go, it serves again.
        deadline = time.monotonic() + 10
        while True:
            try:
                assert "ocpi_hub_requests_total" in scrape(f"http://127.0.0.1:{port}/metrics")
                break
            except ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.1)


def test_the_gauges_say_how_the_platforms_and_their_queues_are(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data") as hub:
        retired = hub.add_platform("Retired", ("NL", "RET", "CPO"))
        assert hub.admin("DELETE", f"/platforms/{retired['id']}")[0] == 204
        hub.add_platform("Planned", ("NL", "PLA", "CPO"))
        with member(hub, ("NL", "GCP", "CPO")) as cpo, member(hub, ("NL", "GEM", "EMSP")) as emsp:
            emsp.fake.down = True
            # HubClientInfo tells the eMSP of the new platform: a message waits for it.
            hub.add_platform("Newcomer", ("NL", "NEW", "CPO"))

            def waiting() -> str:
                text = scrape(f"{hub.url}/metrics")
                return text if value(text, "ocpi_hub_queue_depth", platform=emsp.id) else ""

            text = wait_for(waiting, what="a message waiting for the eMSP")
            assert value(text, "ocpi_hub_platforms", status="CONNECTED") == 2
            assert value(text, "ocpi_hub_platforms", status="PLANNED") == 2
            # A removed platform is counted as suspended (it is, for good).
            assert value(text, "ocpi_hub_platforms", status="SUSPENDED") == 1
            assert value(text, "ocpi_hub_queue_oldest_age_seconds", platform=emsp.id) >= 0
            assert f'platform="{cpo.id}"' in text  # HubClientInfo tells it of the newcomer
            # Queues of platforms that never registered are not shown.
            assert f'platform="{retired["id"]}"' not in text
            emsp.fake.down = False


def test_metrics_of_two_workers_are_summed(hub_factory: MakeHub) -> None:
    hub = hub_factory(args=["--workers", "2"]).start()
    traffic(hub, 10)
    # Whichever worker answers the scrape, it reports the requests both handled.
    for _ in range(4):
        text = scrape(f"{hub.url}/metrics")
        assert value(text, "ocpi_hub_requests_total", module="locations", ocpi_status="1000") == 10
        assert value(text, "ocpi_hub_handshakes_total", outcome="ok") == 2
    assert hub.stop() == 0


def test_the_last_access_lines_before_a_clean_stop_are_logged(hub_factory: MakeHub) -> None:
    """Access lines are written by a thread in batches (hub.logs.LineWriter); those still
    queued when SIGTERM comes are written before the process ends."""
    hub = hub_factory().start()
    ids = [f"last-{i}" for i in range(50)]
    for request_id in ids:
        status, _, _ = client.request(
            "GET", f"{hub.url}/ocpi/versions", headers={"X-Request-ID": request_id}
        )
        assert status == 401
    assert hub.stop() == 0
    logged = re.findall(r"hub\.access: .* request_id=(last-\d+)", hub.log())
    assert logged == ids


def test_json_logs_have_one_line_per_request_and_no_secrets(hub_factory: MakeHub) -> None:
    hub = hub_factory(args=["--log-format", "json"]).start()
    used = traffic(hub, 2)
    # A call that fails at the receiver logs a warning inside the request.
    status, _, _ = client.request(
        "GET",
        f"{hub.url}/ocpi/versions",
        headers={"X-Request-ID": "req-outside", "X-Correlation-ID": "corr-outside"},
    )
    assert status == 401
    hub.stop()
    lines = [json.loads(line) for line in hub.log().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "hub.access"]
    pushes = [
        line
        for line in access
        if line["ocpi_module"] == "locations" and line["ocpi_status"] == 1000
    ]
    assert len(pushes) == 2
    push = pushes[-1]
    assert (push["sender"], push["receiver"], push["http_status"]) == ("NL/MCP", "NL/MEM", 200)
    assert push["duration_ms"] > 0
    assert re.fullmatch(r"[0-9a-f-]{36}", push["request_id"])
    assert push["correlation_id"]
    refused = [line for line in access if line.get("request_id") == "req-outside"]
    assert refused and refused[0]["correlation_id"] == "corr-outside"
    assert refused[0]["ocpi_status"] == 2000
    text = hub.log()
    assert all(token not in text for token in used["tokens"])
    assert '"address"' not in text  # no bodies
