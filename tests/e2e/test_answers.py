"""Answers carry only what the caller may see: a receiver that serves several parties and
forgets to filter never leaks one eMSP's sessions or CDRs, or another party's locations, to the
caller (README: "Roaming agreements", answers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.network import Member, member
from tests.e2e.objects import cdr, location, session
from tests.e2e.test_operations import scrape, value
from tests.inprocess import InProcessHub
from tests.parties import RecordedRequest

V = "/ocpi/2.2.1"
CPA, CPB, EMA, EMB = ("AN", "CPA"), ("AN", "CPB"), ("AN", "EMA"), ("AN", "EMB")


@dataclass
class Network:
    cpa: Member
    ema: Member
    emb: Member


@pytest.fixture(scope="module")
def net(hub: InProcessHub) -> Iterator[Network]:
    with ExitStack() as stack:
        yield Network(
            cpa=stack.enter_context(member(hub, ("AN", "CPA", "CPO"))),
            ema=stack.enter_context(member(hub, ("AN", "EMA", "EMSP"))),
            emb=stack.enter_context(member(hub, ("AN", "EMB", "EMSP"))),
        )


def answering(path: str, data: Any) -> Any:
    def respond(request: RecordedRequest) -> tuple[Any, ...] | None:
        if request.path != path:
            return None
        return 200, {"data": data, "status_code": 1000, "timestamp": "2026-11-24T10:00:00Z"}

    return respond


def withheld(hub: InProcessHub, module: str) -> float:
    return value(scrape(f"{hub.url}/metrics"), "ocpi_hub_withheld_total", module=module)


def test_another_emsps_sessions_and_cdrs_are_removed_from_a_list(
    hub: InProcessHub, net: Network
) -> None:
    before = withheld(hub, "sessions"), withheld(hub, "cdrs")
    mine, theirs = session(CPA, "S-MINE", EMA), session(CPA, "S-THEIRS", EMB)
    net.cpa.fake.responder = answering(f"{V}/sessions/sender", [mine, theirs])
    try:
        status, _, answer = net.ema.call("GET", f"{V}/sender/sessions", to=CPA)
        assert status == 200, answer
        assert [s["id"] for s in answer["data"]] == ["S-MINE"]
        net.cpa.fake.responder = answering(
            f"{V}/cdrs/sender", [cdr(CPA, "C-THEIRS", EMB), cdr(CPA, "C-MINE", EMA)]
        )
        status, _, answer = net.ema.call("GET", f"{V}/sender/cdrs", to=CPA)
        assert status == 200, answer
        assert [c["id"] for c in answer["data"]] == ["C-MINE"]
    finally:
        net.cpa.fake.responder = None
    assert (withheld(hub, "sessions"), withheld(hub, "cdrs")) == (before[0] + 1, before[1] + 1)
    assert "answered AN/EMA with 1 sessions that are not theirs to see" in hub.log()


def test_an_answer_with_nothing_to_remove_passes_byte_for_byte(net: Network) -> None:
    data = [session(CPA, "S-1", EMA), session(CPA, "S-2", EMA)]
    net.cpa.fake.responder = answering(f"{V}/sessions/sender", data)
    try:
        status, _, answer = net.ema.call("GET", f"{V}/sender/sessions", to=CPA)
    finally:
        net.cpa.fake.responder = None
    assert status == 200 and answer["data"] == data


def test_another_cpos_location_is_not_found_as_if_absent(net: Network) -> None:
    net.cpa.fake.responder = answering(f"{V}/locations/sender/L-1", location(CPB, "L-1"))
    try:
        status, _, answer = net.ema.call("GET", f"{V}/sender/locations/L-1", to=CPA)
        assert (status, answer["status_code"]) == (404, 2003), answer
        net.cpa.fake.responder = answering(f"{V}/locations/sender/L-2", location(CPA, "L-2"))
        status, _, answer = net.ema.call("GET", f"{V}/sender/locations/L-2", to=CPA)
        assert (status, answer["status_code"], answer["data"]["id"]) == (200, 1000, "L-2")
    finally:
        net.cpa.fake.responder = None
