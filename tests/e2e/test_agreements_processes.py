"""Roaming agreements in every hub process at once (README: "Roaming agreements"): an agreement
added or removed through the admin API decides every call, whichever worker serves it, within a
second; and a routed call reads no agreement from Redis (each process keeps a copy)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.network import Member, member
from tests.e2e.objects import session
from tests.hubproc import HubProcess
from tests.ownhub import own_hub
from tests.parties import RecordedRequest
from tests.processes import socket_owner, wait_until, workers
from tests.redisstats import calls, reset

V = "/ocpi/2.2.1"
SESSIONS = f"{V}/sessions/receiver/"  # where the eMSPs receive them
MakeHub = Callable[..., HubProcess]
CPO, EMSP = ("MP", "CPO"), ("MP", "EMS")
CALLS = 20


def party(key: tuple[str, str]) -> dict[str, str]:
    return {"country_code": key[0], "party_id": key[1]}


def push_session(cpo: Member, session_id: str) -> tuple[int, int]:
    """One session pushed by the CPO to the eMSP (direct routing), over a connection of its
    own; (HTTP status, OCPI status)."""
    status, _, answer = cpo.call(
        "PUT",
        f"{V}/receiver/sessions/{CPO[0]}/{CPO[1]}/{session_id}",
        body=session(CPO, session_id, EMSP),
        to=EMSP,
    )
    return status, answer["status_code"]


def one_second_after(moment: float) -> None:
    time.sleep(max(0.0, moment + 1.0 - time.monotonic()))


def test_an_agreement_decides_every_worker_within_one_second(hub_factory: MakeHub) -> None:
    hub = hub_factory(args=["--workers", "2", "--agreements", "required"]).start()
    assert hub.process is not None
    parent = hub.process.pid
    wait_until(lambda: len(workers(parent)) == 2, "two workers", 30)
    pids = workers(parent)
    with member(hub, (*CPO, "CPO")) as cpo, member(hub, (*EMSP, "EMSP")) as emsp:
        # Which worker forwarded each session: the one that holds the connection it came on.
        served: list[int | None] = []

        def note_worker(request: RecordedRequest) -> None:
            if "/sessions/" in request.path and request.peer_port is not None:
                served.append(socket_owner(request.peer_port, emsp.fake.port, pids))

        emsp.fake.responder = note_worker
        # Refused, and each worker now holds a copy that the agreement must replace.
        answers = [push_session(cpo, f"S-BEFORE-{i}") for i in range(CALLS)]
        assert answers == [(404, 4001)] * CALLS

        status, _, made = hub.admin(
            "POST", "/agreements", {"cpo": party(CPO), "partner": party(EMSP)}
        )
        assert status == 201, made
        one_second_after(time.monotonic())
        answers = [push_session(cpo, f"S-{i}") for i in range(CALLS)]
        assert answers == [(200, 1000)] * CALLS
        assert len(emsp.received(path=SESSIONS)) == CALLS, "the refused ones never arrived"
        assert len(served) == CALLS
        assert set(served) == set(pids), f"both workers routed: {served}"

        assert hub.admin("DELETE", f"/agreements/{made['id']}")[0] == 200
        removed_at = time.monotonic()
        received = len(emsp.received(path=SESSIONS))
        one_second_after(removed_at)
        answers = [push_session(cpo, f"S-GONE-{i}") for i in range(CALLS)]
        assert answers == [(404, 4001)] * CALLS
        assert len(emsp.received(path=SESSIONS)) == received, "nothing reached the eMSP"
    assert hub.stop() == 0


def test_a_routed_call_reads_no_agreement_from_redis(tmp_path: Path) -> None:
    with (
        own_hub(tmp_path / "data", agreements="required") as hub,
        member(hub, (*CPO, "CPO")) as cpo,
        member(hub, (*EMSP, "EMSP")),
    ):

        def agree(**extra: Any) -> None:
            body = {"cpo": party(CPO), "partner": party(EMSP), **extra}
            assert hub.admin("POST", "/agreements", body)[0] == 201

        agree()
        assert push_session(cpo, "S-WARM") == (200, 1000)
        reset(hub.redis_url)
        for i in range(50):
            assert push_session(cpo, f"S-{i}") == (200, 1000)
        # Agreements are read with HGETALL (hub.store.agreements): not once for 50 calls.
        assert calls(hub.redis_url).get("hgetall", 0) == 0

        # ... while a change has them read again: the counter would see a read.
        agree(modules=["sessions"])
        assert push_session(cpo, "S-AFTER") == (200, 1000)
        assert calls(hub.redis_url).get("hgetall", 0) >= 1
