"""What the hub reads of a call before it routes it: the ids in its URL, the objects in its body
(OCPI 2.2.1, each module's "Interfaces and endpoints"). A call whose URL or body is not what its
module defines is 2001 and reaches no one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.network import Hub, Pair, cpo_and_emsp
from tests.e2e.objects import session
from tests.parties import RecordedRequest

V = "/ocpi/2.2.1"
CPO, EMSP = ("CS", "CPO"), ("CS", "EMS")
PREFERENCES = {"profile_type": "FAST", "energy_need": 20.0, "departure_time": "2026-12-01T18:00Z"}


@pytest.fixture(scope="module")
def pair(hub: Hub) -> Iterator[Pair]:
    with cpo_and_emsp(hub, "CS") as found:
        status, _, answer = found.cpo.call(
            "PUT", f"{V}/receiver/sessions/CS/CPO/S-PREF", body=session(CPO, "S-PREF", EMSP)
        )
        assert (status, answer["status_code"]) == (200, 1000), answer
        yield found


def accepted(request: RecordedRequest) -> tuple[Any, ...] | None:
    if not request.path.endswith("/charging_preferences"):
        return None
    return 200, {"data": "ACCEPTED", "status_code": 1000, "timestamp": "2026-12-01T10:00:00Z"}


def test_charging_preferences_go_to_the_cpo_of_the_session(pair: Pair) -> None:
    pair.cpo.fake.responder = accepted
    try:
        status, headers, answer = pair.emsp.call(
            "PUT", f"{V}/sender/sessions/S-PREF/charging_preferences", body=PREFERENCES
        )
    finally:
        pair.cpo.fake.responder = None
    assert (status, answer["status_code"], answer["data"]) == (200, 1000, "ACCEPTED"), answer
    assert (headers["ocpi-from-country-code"], headers["ocpi-from-party-id"]) == CPO
    (got,) = pair.cpo.received("PUT", "/ocpi/2.2.1/sessions/sender/S-PREF/charging_preferences")
    assert got.body == PREFERENCES
    assert (got.headers["ocpi-to-country-code"], got.headers["ocpi-to-party-id"]) == CPO


def test_the_cpos_get_of_its_session_goes_to_the_sessions_emsp(pair: Pair) -> None:
    """No OCPI-to: the session id in the URL names the eMSP (2.2.1 "Open routing request")."""
    status, _, answer = pair.cpo.call("GET", f"{V}/receiver/sessions/CS/CPO/S-PREF")
    assert (status, answer["status_code"]) == (200, 1000), answer
    (got,) = pair.emsp.received("GET", "/ocpi/2.2.1/sessions/receiver/CS/CPO/S-PREF")
    assert (got.headers["ocpi-to-country-code"], got.headers["ocpi-to-party-id"]) == EMSP


@pytest.mark.parametrize(
    ("method", "path", "body", "says"),
    [
        (
            "PUT",
            "sender/sessions/S-PREF/charging_preferences",
            {"energy_need": 20.0},
            "missing required field `profile_type`",
        ),
        (
            "PUT",
            "sender/sessions/S-PREF/charging_preferences",
            {**PREFERENCES, "energy_need": "lots"},
            "`$.energy_need`",
        ),
        ("POST", "receiver/commands", {}, "must end in /{command}"),
        ("POST", "receiver/commands/START_SESSION/again", {}, "must end in /{command}"),
    ],
)
def test_a_call_its_module_does_not_define_is_2001(
    pair: Pair, method: str, path: str, body: Any, says: str
) -> None:
    before = len(pair.cpo.received())
    status, _, answer = pair.emsp.call(method, f"{V}/{path}", body=body, to=CPO)
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert says in answer["status_message"]
    assert len(pair.cpo.received()) == before  # HubClientInfo pushes left out
