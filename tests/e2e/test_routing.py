"""Direct routing through the hub: every module and interface, the header and token rules,
refusals, hub errors, and what the receiver's answer looks like on the way back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.network import Member, member
from tests.e2e.objects import location, session
from tests.hubproc import HubProcess
from tests.ownhub import own_hub
from tests.parties import FakePlatform, b64

V = "/ocpi/2.2.1"
CPA, CPB, EMA, EMB = ("RT", "CPA"), ("RT", "CPB"), ("RT", "EMA"), ("RT", "EMB")
XCP, XEM = ("RT", "XCP"), ("RT", "XEM")


@dataclass
class Network:
    cpa: Member
    cpb: Member
    ema: Member
    emb: Member
    both: Member  # one platform, two roles: CPO RT/XCP and eMSP RT/XEM


@pytest.fixture(scope="module")
def net(hub: HubProcess) -> Iterator[Network]:
    with ExitStack() as stack:
        yield Network(
            cpa=stack.enter_context(member(hub, ("RT", "CPA", "CPO"))),
            cpb=stack.enter_context(member(hub, ("RT", "CPB", "CPO"))),
            ema=stack.enter_context(member(hub, ("RT", "EMA", "EMSP"))),
            # eMSP B takes no tariffs: its version details lack that endpoint.
            emb=stack.enter_context(
                member(
                    hub,
                    ("RT", "EMB", "EMSP"),
                    modules=[
                        ("locations", "RECEIVER"),
                        ("sessions", "RECEIVER"),
                        ("cdrs", "RECEIVER"),
                        ("tokens", "SENDER"),
                        ("commands", "SENDER"),
                    ],
                )
            ),
            both=stack.enter_context(member(hub, ("RT", "XCP", "CPO"), ("RT", "XEM", "EMSP"))),
        )


def test_a_location_put_reaches_the_emsp_as_sent(net: Network) -> None:
    body = location(CPA, "LOC-DIRECT")
    status, headers, answer = net.cpa.call(
        "PUT", f"{V}/receiver/locations/RT/CPA/LOC-DIRECT", body=body, frm=CPA, to=EMA
    )

    assert status == 200, answer
    assert answer["status_code"] == 1000
    sent = net.cpa.sent[-1]
    assert headers["x-request-id"] == sent["X-Request-ID"]
    assert headers["x-correlation-id"] == sent["X-Correlation-ID"]
    (got,) = net.ema.received("PUT", "/ocpi/2.2.1/locations/receiver/RT/CPA/LOC-DIRECT")
    assert got.body == body
    assert got.authorization == f"Token {b64(net.ema.fake.issued_token or '')}"
    assert got.headers["x-correlation-id"] == sent["X-Correlation-ID"]
    assert got.headers["x-request-id"] != sent["X-Request-ID"]
    assert (got.headers["ocpi-from-country-code"], got.headers["ocpi-from-party-id"]) == CPA
    assert (got.headers["ocpi-to-country-code"], got.headers["ocpi-to-party-id"]) == EMA
    assert net.emb.received("PUT", "/ocpi/2.2.1/locations/receiver/RT/CPA/LOC-DIRECT") == []


def test_a_trailing_slash_is_served_and_the_query_kept(net: Network) -> None:
    status, _, answer = net.ema.call(
        "GET", f"{V}/receiver/tokens/RT/EMA/TOK-Q/?type=APP_USER", frm=EMA, to=CPA
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    got = net.cpa.received("GET", "/ocpi/2.2.1/tokens/receiver/RT/EMA/TOK-Q")[-1]
    assert got.path == "/ocpi/2.2.1/tokens/receiver/RT/EMA/TOK-Q"
    assert got.query == "type=APP_USER"


def test_every_module_and_interface_is_routed(net: Network) -> None:
    """One call per lane, from a party that may use it, to the right endpoint of the other."""
    cases = [
        (
            net.cpa,
            CPA,
            EMA,
            "PUT",
            "receiver/sessions/RT/CPA/S-1",
            "sessions/receiver/RT/CPA/S-1",
            session(CPA, "S-1", EMA),
        ),
        (net.cpa, CPA, EMA, "GET", "receiver/cdrs/x", "cdrs/receiver/x", None),
        (
            net.cpa,
            CPA,
            EMA,
            "DELETE",
            "receiver/tariffs/RT/CPA/T-1",
            "tariffs/receiver/RT/CPA/T-1",
            None,
        ),
        (net.ema, EMA, CPA, "GET", "sender/locations/L-1/E-1", "locations/sender/L-1/E-1", None),
        (
            net.ema,
            EMA,
            CPA,
            "GET",
            "sender/sessions?date_from=2026-01-01T00:00:00Z",
            "sessions/sender",
            None,
        ),
        (net.ema, EMA, CPA, "GET", "sender/cdrs", "cdrs/sender", None),
        (net.ema, EMA, CPA, "GET", "sender/tariffs", "tariffs/sender", None),
        (
            net.ema,
            EMA,
            CPA,
            "GET",
            "receiver/tokens/RT/EMA/TOK-1",
            "tokens/receiver/RT/EMA/TOK-1",
            None,
        ),
        (net.cpa, CPA, EMA, "GET", "sender/tokens?offset=0", "tokens/sender", None),
        (
            net.cpa,
            CPA,
            EMA,
            "POST",
            "sender/commands/cb",
            "commands/sender/cb",
            {"result": "ACCEPTED"},
        ),
        (
            net.ema,
            EMA,
            CPA,
            "DELETE",
            "receiver/chargingprofiles/S-1",
            "chargingprofiles/receiver/S-1",
            None,
        ),
    ]
    for caller, frm, to, method, path, arrives, body in cases:
        receiver = {CPA: net.cpa, EMA: net.ema}[to]
        before = len(receiver.received())
        status, _, answer = caller.call(method, f"{V}/{path}", frm=frm, to=to, body=body)
        assert (status, answer["status_code"]) == (200, 1000), (path, answer)
        got = receiver.received()[before:]
        assert [r.path for r in got] == [f"/ocpi/2.2.1/{arrives}".split("?")[0]], path
        if "?" in path:
            assert got[0].query == path.split("?")[1]


def test_the_receivers_answer_passes_back_unchanged(net: Network) -> None:
    def refuse(request: Any) -> tuple[Any, ...] | None:
        if "LOC-REFUSED" in request.path:
            return (
                200,
                {"status_code": 2001, "status_message": "bad field", "timestamp": "x"},
                {"X-Total-Count": "7", "Server": "fake"},
            )
        return None

    net.ema.fake.responder = refuse
    try:
        status, headers, answer = net.cpa.call(
            "PUT",
            f"{V}/receiver/locations/RT/CPA/LOC-REFUSED",
            body=location(CPA, "LOC-REFUSED"),
            frm=CPA,
            to=EMA,
        )
    finally:
        net.ema.fake.responder = None
    assert status == 200
    assert answer == {"status_code": 2001, "status_message": "bad field", "timestamp": "x"}
    assert headers["x-total-count"] == "7"
    assert "fake" not in headers.get("server", "")


def test_a_single_role_platform_may_leave_out_ocpi_from(net: Network) -> None:
    status, _, answer = net.cpa.call(
        "PUT", f"{V}/receiver/locations/RT/CPA/LOC-NOFROM", body=location(CPA, "LOC-NOFROM"), to=EMA
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    (got,) = net.ema.received("PUT", "/ocpi/2.2.1/locations/receiver/RT/CPA/LOC-NOFROM")
    # The hub names the sender for the receiver.
    assert (got.headers["ocpi-from-country-code"], got.headers["ocpi-from-party-id"]) == CPA


def test_a_two_role_platform_uses_each_role(net: Network) -> None:
    status, _, answer = net.both.call(
        "PUT", f"{V}/receiver/locations/RT/XCP/LOC-X", body=location(XCP, "LOC-X"), frm=XCP, to=EMA
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    status, _, answer = net.both.call("GET", f"{V}/sender/locations", frm=XEM, to=CPA)
    assert (status, answer["status_code"]) == (200, 1000), answer
    # Without OCPI-from it must say which role it speaks for.
    status, _, answer = net.both.call("GET", f"{V}/sender/locations", to=CPA)
    assert (status, answer["status_code"]) == (400, 2001)
    assert "OCPI-from" in answer["status_message"]


@pytest.mark.parametrize(
    ("who", "frm", "path", "body_party", "status", "mentions"),
    [
        # OCPI-from names a party of another platform
        ("cpa", CPB, "RT/CPB/LOC-S", CPB, 403, "not a party of this platform"),
        # the URL's owner is not the sender
        ("cpa", CPA, "RT/CPB/LOC-S", CPA, 403, "the URL names RT/CPB"),
        # the body's owner is not the sender
        ("cpa", CPA, "RT/CPA/LOC-S", CPB, 403, "the body names RT/CPB"),
        # an eMSP may not push locations
        ("ema", EMA, "RT/EMA/LOC-S", EMA, 403, "may not use the RECEIVER interface of locations"),
    ],
)
def test_spoofing_is_refused_and_reaches_no_one(
    net: Network,
    who: str,
    frm: tuple[str, str],
    path: str,
    body_party: tuple[str, str],
    status: int,
    mentions: str,
) -> None:
    caller: Member = getattr(net, who)
    location_id = path.rsplit("/", 1)[1]
    receivers = [net.ema, net.emb, net.cpa, net.cpb]
    before = [len(r.received()) for r in receivers]

    answer_status, _, answer = caller.call(
        "PUT",
        f"{V}/receiver/locations/{path}",
        body=location(body_party, location_id),
        frm=frm,
        to=EMB if who == "cpa" else CPA,
    )

    assert (answer_status, answer["status_code"]) == (status, 2000), answer
    assert mentions in answer["status_message"]
    assert [len(r.received()) for r in receivers] == before


def test_half_a_header_pair_is_refused(net: Network) -> None:
    status, _, answer = net.cpa.call(
        "GET", f"{V}/sender/tokens", headers={"OCPI-to-country-code": "RT"}, frm=CPA
    )
    assert (status, answer["status_code"]) == (400, 2001)
    assert "ocpi-to-party-id" in answer["status_message"]


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ({"country_code": "RT", "party_id": "CPA", "id": "LOC-B"}, "missing required field"),
        ({**location(CPA, "LOC-B"), "coordinates": {"latitude": 52}}, "coordinates"),
        (location(CPA, "OTHER-ID"), "`id`"),
    ],
)
def test_invalid_bodies_get_2001_naming_the_field(
    net: Network, body: dict[str, Any], mentions: str
) -> None:
    status, _, answer = net.cpa.call(
        "PUT", f"{V}/receiver/locations/RT/CPA/LOC-B", body=body, frm=CPA, to=EMA
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert mentions in answer["status_message"]
    assert net.ema.received("PUT", "/ocpi/2.2.1/locations/receiver/RT/CPA/LOC-B") == []


def test_a_patch_without_last_updated_is_refused(net: Network) -> None:
    status, _, answer = net.cpa.call(
        "PATCH", f"{V}/receiver/locations/RT/CPA/LOC-P", body={"name": "x"}, frm=CPA, to=EMA
    )
    assert (status, answer["status_code"]) == (400, 2001)
    assert "last_updated" in answer["status_message"]


@pytest.mark.parametrize(
    ("to", "mentions"),
    [
        (("RT", "ZZZ"), "unknown receiver RT/ZZZ"),
        (CPB, "RT/CPB has no role that receives locations"),
        (EMB, "RT/EMB has no tariffs RECEIVER endpoint"),
    ],
)
def test_unknown_receivers_get_4001(net: Network, to: tuple[str, str], mentions: str) -> None:
    module = "tariffs" if to == EMB else "locations"
    path = f"{V}/receiver/{module}/RT/CPA/X-1"
    body = location(CPA, "X-1") if module == "locations" else None
    method = "PUT" if body else "GET"
    status, _, answer = net.cpa.call(method, path, body=body, frm=CPA, to=to)
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert mentions in answer["status_message"]


def test_a_platform_cannot_route_to_itself(net: Network) -> None:
    status, _, answer = net.both.call(
        "PUT",
        f"{V}/receiver/locations/RT/XCP/L-SELF",
        body=location(XCP, "L-SELF"),
        frm=XCP,
        to=XEM,
    )
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert "on the calling platform itself" in answer["status_message"]


def test_a_platform_that_is_not_connected_gets_4003(hub: HubProcess, net: Network) -> None:
    hub.add_platform("Planned", ("RT", "PLN", "EMSP"))
    status, _, answer = net.cpa.call(
        "PUT",
        f"{V}/receiver/locations/RT/CPA/L-4003",
        body=location(CPA, "L-4003"),
        frm=CPA,
        to=("RT", "PLN"),
    )
    assert (status, answer["status_code"]) == (502, 4003)
    assert "RT/PLN is PLANNED" in answer["status_message"]


def test_a_receiver_that_is_down_gets_4003_at_once(hub: HubProcess, net: Network) -> None:
    with member(hub, ("RT", "DWN", "EMSP")) as down:
        pass  # registered, then its server stops
    started = time.monotonic()
    status, _, answer = net.cpa.call(
        "PUT",
        f"{V}/receiver/locations/RT/CPA/L-DOWN",
        body=location(CPA, "L-DOWN"),
        frm=CPA,
        to=down.party,
    )
    assert (status, answer["status_code"]) == (502, 4003), answer
    assert "RT/DWN" in answer["status_message"]
    assert time.monotonic() - started < 2


def test_a_receiver_that_does_not_answer_in_time_gets_4002(tmp_path: Path) -> None:
    with (
        own_hub(tmp_path / "data", forward_timeout=0.5) as hub,
        member(hub, ("RT", "CPS", "CPO")) as cpo,
        member(hub, ("RT", "SLO", "EMSP")) as slow,
    ):
        slow.fake.delay = 2.0
        started = time.monotonic()
        status, _, answer = cpo.call(
            "PUT",
            f"{V}/receiver/locations/RT/CPS/L-SLOW",
            body=location(("RT", "CPS"), "L-SLOW"),
            to=slow.party,
        )
        assert time.monotonic() - started < 1.8
    assert (status, answer["status_code"]) == (504, 4002), answer
    assert "RT/SLO" in answer["status_message"]


def test_token_a_cannot_route(hub: HubProcess) -> None:
    created = hub.add_platform("A only", ("RT", "TKA", "CPO"))
    with FakePlatform(roles=[("RT", "TKA", "CPO")]) as fake:
        url = f"{hub.url}{V}/sender/locations"
        status, _, answer = fake.call("GET", url, token=created["token_a"])
    assert (status, answer["status_code"]) == (401, 2000)


def test_an_answer_that_is_not_ocpi_becomes_4000(net: Network) -> None:
    def broken(request: Any) -> tuple[Any, ...] | None:
        if "LOC-HTML" in request.path:
            return (502, b"<html>Bad gateway</html>", {"Content-Type": "text/html"})
        return None

    net.ema.fake.responder = broken
    try:
        status, headers, answer = net.cpa.call(
            "PUT",
            f"{V}/receiver/locations/RT/CPA/LOC-HTML",
            body=location(CPA, "LOC-HTML"),
            to=EMA,
        )
    finally:
        net.ema.fake.responder = None
    assert (status, answer["status_code"]) == (502, 4000)
    assert "RT/EMA answered HTTP 502 without an OCPI envelope" in answer["status_message"]
    assert headers["content-type"] == "application/json"


def test_a_receiver_that_wants_raw_tokens_gets_them(hub: HubProcess, net: Network) -> None:
    with member(hub, ("RT", "RAW", "EMSP"), token_encoding="raw") as raw:
        status, _, answer = net.cpa.call(
            "PUT",
            f"{V}/receiver/locations/RT/CPA/LOC-RAW",
            body=location(CPA, "LOC-RAW"),
            to=raw.party,
        )
        assert (status, answer["status_code"]) == (200, 1000), answer
        (got,) = raw.received("PUT", "/ocpi/2.2.1/locations/receiver/RT/CPA/LOC-RAW")
        assert got.authorization == f"Token {raw.fake.issued_token}"
