"""Calls whose OCPI-to names the hub itself (OCPI 2.2.1, "Message routing": Broadcast Push and
GET All via Hub): what the hub keeps of a PUT, PATCH or DELETE, whom it passes them on to, what
it serves back, and the calls it refuses. A hub of this module's own: its lists hold only what
these tests put in."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest

from tests.e2e.network import Member, member
from tests.e2e.objects import location, token
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.waiting import wait_for

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
CPO, EMSP = ("HH", "CPO"), ("HH", "EMS")


@dataclass
class Network:
    hub: InProcessHub
    cpo: Member
    emsp: Member
    # A CPO whose platform lists its locations endpoint without a role: by the endpoint rule
    # it could take locations, but no party of it receives them.
    other_cpo: Member


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    data = tmp_path_factory.mktemp("held") / "data"
    with own_hub(data, retry_base=0.05, retry_max=0.3) as hub, ExitStack() as stack:
        yield Network(
            hub=hub,
            cpo=stack.enter_context(member(hub, ("HH", "CPO", "CPO"))),
            emsp=stack.enter_context(member(hub, ("HH", "EMS", "EMSP"))),
            other_cpo=stack.enter_context(
                member(hub, ("HH", "CPX", "CPO"), without_role=("locations",))
            ),
        )


def ok(result: tuple[int, dict[str, str], Any]) -> tuple[dict[str, str], Any]:
    status, headers, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return headers, answer


def ids(answer: Any, key: str = "id") -> list[str]:
    return [item[key] for item in answer["data"]]


def tariff(owner: tuple[str, str], tariff_id: str) -> dict[str, Any]:
    return {
        "country_code": owner[0],
        "party_id": owner[1],
        "id": tariff_id,
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
        "last_updated": "2026-11-24T10:00:00Z",
    }


def test_a_deleted_tariff_leaves_the_list_and_reaches_every_receiver(net: Network) -> None:
    for name in ("TD-DEL", "TD-KEEP"):
        body = tariff(CPO, name)
        ok(net.cpo.call("PUT", f"{V}/receiver/tariffs/HH/CPO/{name}", body=body, to=HUB))
    ok(net.cpo.call("DELETE", f"{V}/receiver/tariffs/HH/CPO/TD-DEL", to=HUB))

    path = "/ocpi/2.2.1/tariffs/receiver/HH/CPO/TD-DEL"
    got = wait_for(lambda: net.emsp.received("DELETE", path), what="the DELETE at the eMSP")
    assert got[0].body is None
    assert (got[0].headers["ocpi-from-country-code"], got[0].headers["ocpi-from-party-id"]) == HUB
    headers, answer = ok(net.emsp.call("GET", f"{V}/sender/tariffs", to=HUB))
    assert "TD-DEL" not in ids(answer) and "TD-KEEP" in ids(answer)
    assert headers["x-total-count"] == str(len(answer["data"]))


def test_a_location_reaches_no_party_that_does_not_receive_locations(net: Network) -> None:
    body = location(CPO, "L-ROLES")
    ok(net.cpo.call("PUT", f"{V}/receiver/locations/HH/CPO/L-ROLES", body=body, to=HUB))
    wait_for(
        lambda: net.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/HH/CPO/L-ROLES"),
        what="the location at the eMSP",
    )
    # By the endpoint rule the other CPO's platform could take locations, but no party of it
    # receives them (2.2.1: the eMSP is the Receiver of Locations).
    assert net.other_cpo.received(path="/ocpi/2.2.1/locations") == []


def test_one_location_id_of_two_cpos_must_be_asked_for_by_owner(net: Network) -> None:
    for who, owner in ((net.cpo, CPO), (net.other_cpo, ("HH", "CPX"))):
        body = location(owner, "L-SAME")
        url = f"{V}/receiver/locations/{owner[0]}/{owner[1]}/L-SAME"
        ok(who.call("PUT", url, body=body, to=HUB))
    status, _, answer = net.emsp.call("GET", f"{V}/sender/locations/L-SAME", to=HUB)
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert "kept by several parties (HH/CPO, HH/CPX)" in answer["status_message"]


def test_a_patch_of_what_the_hub_does_not_hold_is_404_and_goes_nowhere(net: Network) -> None:
    patch = {"name": "patched", "last_updated": "2026-11-24T10:05:00Z"}
    status, _, answer = net.cpo.call(
        "PATCH", f"{V}/receiver/locations/HH/CPO/L-NEVER", body=patch, to=HUB
    )
    assert (status, answer["status_code"]) == (404, 2000), answer
    assert "holds no location L-NEVER to patch" in answer["status_message"]
    # What is queued is delivered in order: a push after it arrives, the patch never will.
    body = location(CPO, "L-AFTER-PATCH")
    ok(net.cpo.call("PUT", f"{V}/receiver/locations/HH/CPO/L-AFTER-PATCH", body=body, to=HUB))
    wait_for(
        lambda: net.emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/HH/CPO/L-AFTER-PATCH"),
        what="the push after the refused patch",
    )
    assert net.emsp.received(path="/ocpi/2.2.1/locations/receiver/HH/CPO/L-NEVER") == []


def test_the_type_in_the_query_names_the_token_a_patch_changes(net: Network) -> None:
    for kind in ("RFID", "APP_USER"):
        body = {**token(EMSP, "T-TWO"), "type": kind}
        ok(net.emsp.call("PUT", f"{V}/receiver/tokens/HH/EMS/T-TWO?type={kind}", body=body, to=HUB))
    patch = {"valid": False, "last_updated": "2026-11-24T11:00:00Z"}
    ok(
        net.emsp.call(
            "PATCH", f"{V}/receiver/tokens/HH/EMS/T-TWO?type=APP_USER", body=patch, to=HUB
        )
    )

    _, answer = ok(net.cpo.call("GET", f"{V}/sender/tokens", to=HUB))
    found = {t["type"]: t for t in answer["data"] if t["uid"] == "T-TWO"}
    assert set(found) == {"RFID", "APP_USER"}
    assert found["APP_USER"]["valid"] is False
    assert found["APP_USER"]["last_updated"] == "2026-11-24T11:00:00Z"
    assert found["RFID"]["valid"] is True
    # The CPO got the patch with the query that names the token.
    (patched,) = wait_for(
        lambda: net.cpo.received("PATCH", "/ocpi/2.2.1/tokens/receiver/HH/EMS/T-TWO"),
        what="the token patch at the CPO",
    )
    assert patched.query == "type=APP_USER" and patched.body == patch


def test_tariffs_are_served_a_page_at_a_time_with_the_filters_kept(net: Network) -> None:
    for i in range(3):
        body = {**tariff(CPO, f"TA-{i}"), "last_updated": f"2027-01-01T10:0{i}:00Z"}
        ok(net.cpo.call("PUT", f"{V}/receiver/tariffs/HH/CPO/TA-{i}", body=body, to=HUB))
    since = "date_from=2027-01-01T00%3A00%3A00Z"

    headers, answer = ok(
        net.emsp.call("GET", f"{V}/sender/tariffs?{since}&offset=1&limit=1", to=HUB)
    )
    assert ids(answer) == ["TA-1"]
    assert (headers["x-total-count"], headers["x-limit"]) == ("3", "100")
    # The hub's own answer: FROM is the hub, TO the caller (2.2.1 "Message routing").
    assert (headers["ocpi-from-country-code"], headers["ocpi-from-party-id"]) == HUB
    assert (headers["ocpi-to-country-code"], headers["ocpi-to-party-id"]) == EMSP
    link = re.fullmatch(r'<([^>]+)>; rel="next"', headers["link"])
    assert link is not None
    assert link.group(1) == f"{net.hub.url}/ocpi/2.2.1/sender/tariffs?{since}&offset=2&limit=1"
    headers, answer = ok(net.emsp.call("GET", link.group(1), to=HUB))
    assert ids(answer) == ["TA-2"] and "link" not in headers
    # Past the end: an empty page, no link.
    headers, answer = ok(net.emsp.call("GET", f"{V}/sender/tariffs?{since}&offset=3", to=HUB))
    assert answer["data"] == [] and headers["x-total-count"] == "3" and "link" not in headers


@pytest.mark.parametrize(
    ("caller", "method", "path", "status", "ocpi_status", "says"),
    [
        # Only pushes go to every receiver; a GET or a POST has one receiver, named in OCPI-to.
        ("cpo", "GET", "/receiver/locations/HH/CPO/L-1", 404, 4001, "only pushes"),
        # A command of a later version passes unread, then meets the same rule.
        ("emsp", "POST", "/receiver/commands/NEW_COMMAND", 404, 4001, "only pushes"),
        ("cpo", "DELETE", "/receiver/tariffs/HH/CPO/TA-1/X", 400, 2001, "must end in"),
        ("cpo", "DELETE", "/receiver/tariffs/HH/CPO", 400, 2001, "must end in"),
        ("emsp", "GET", "/sender/locations/L-NONE", 404, 2003, "holds no location L-NONE"),
        # Only GET lists: an authorization names the eMSP of the token, not the hub.
        ("cpo", "POST", "/sender/tokens/T-1/authorize", 404, 4001, "serves GET lists of"),
        ("emsp", "GET", "/sender/tariffs/TA-1", 404, 2000, "no single-object GET"),
        ("emsp", "GET", "/sender/locations/L-1/E-1/1/X", 400, 2001, "/{location_id}"),
        ("emsp", "GET", "/sender/locations?date_from=yesterday", 400, 2001, "RFC 3339"),
        ("cpo", "GET", "/sender/tokens?date_to=2026-13-01T00:00:00Z", 400, 2001, "RFC 3339"),
    ],
)
def test_calls_the_hub_cannot_take_as_a_party(
    net: Network, caller: str, method: str, path: str, status: int, ocpi_status: int, says: str
) -> None:
    who: Member = getattr(net, caller)
    got, _, answer = who.call(method, V + path, to=HUB)
    assert (got, answer["status_code"]) == (status, ocpi_status), answer
    assert says in answer["status_message"]
