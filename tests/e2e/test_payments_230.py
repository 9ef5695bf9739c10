"""The OCPI 2.3.0 Payments module end to end (2.3.0 §16; README: "OCPI 2.3.0 platforms"): a
2.3.0 PTP and a 2.3.0 CPO registered with a hub under ``--agreements required``, each a real
OCPI server; terminals and financial advice confirmations routed directly between them with the
spec's own examples, byte for byte; never to a 2.2.1 CPO, never broadcast, never without an
agreement; bad bodies 2001, nothing sent. A PTP registers in 2.3.0 only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import client
from tests.e2e.network import Member, member
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import DEFAULT_MODULES, FakePlatform, RegistrationError, b64

V = "/ocpi/2.3.0"
HUB = ("NL", "HUB")
PTP, CPO, OLD = ("PY", "PTP"), ("PY", "CPO"), ("PY", "OLD")
EXAMPLES = Path(__file__).parent.parent / "examples" / "2.3.0"
TERMINAL = "55719888-ed09-4cca-82cc-803bdb77bf26"


def example(name: str) -> bytes:
    return (EXAMPLES / f"payment_{name}.json").read_bytes()


@dataclass
class Network:
    hub: InProcessHub
    ptp: Member
    cpo: Member  # 2.3.0, with a payments receiver endpoint
    old: Member  # a 2.2.1 CPO that lists a payments receiver all the same


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    data = tmp_path_factory.mktemp("payments") / "data"
    cpo_modules = [*DEFAULT_MODULES["CPO"], ("payments", "RECEIVER")]
    with own_hub(data, agreements="required") as hub, ExitStack() as stack:
        ptp = stack.enter_context(
            member(hub, (*PTP, "PTP"), version="2.3.0", modules=[("payments", "SENDER")])
        )
        cpo = stack.enter_context(member(hub, (*CPO, "CPO"), version="2.3.0", modules=cpo_modules))
        old = stack.enter_context(member(hub, (*OLD, "CPO"), modules=cpo_modules))
        yield Network(hub, ptp, cpo, old)


@pytest.fixture(autouse=True)
def agreements(net: Network) -> Iterator[None]:
    """Each test starts with the agreements of the CPOs with the PTP for payments, and leaves
    them so."""
    for cpo in (CPO, OLD):
        agree(net.hub, cpo, PTP, "payments")
    yield
    _, _, found = net.hub.admin("GET", "/agreements")
    for agreement in found:
        net.hub.admin("DELETE", f"/agreements/{agreement['id']}")


def agree(hub: InProcessHub, cpo: tuple[str, str], partner: tuple[str, str], *modules: str) -> None:
    body: dict[str, Any] = {
        "cpo": {"country_code": cpo[0], "party_id": cpo[1]},
        "partner": {"country_code": partner[0], "party_id": partner[1]},
        "modules": list(modules),
    }
    status, _, answer = hub.admin("POST", "/agreements", body)
    assert status == 201, answer


def forwarded(
    sender: Member,
    receiver: Member,
    method: str,
    path: str,
    raw: bytes | None = None,
    to: tuple[str, str] | None = None,
) -> Any:
    """Call ``path`` (below /ocpi/2.3.0) as ``sender`` and return what ``receiver`` got."""
    before = len(receiver.received(method))
    status, _, answer = sender.call(
        method, f"{V}/{path}", raw=raw, frm=sender.party, to=to or receiver.party
    )
    assert (status, answer["status_code"]) == (200, 1000), answer
    got = receiver.received(method)
    assert len(got) == before + 1, got
    return got[-1]


def refused(
    sender: Member,
    method: str,
    path: str,
    raw: bytes | None = None,
    *,
    to: tuple[str, str] | None = None,
    watch: tuple[Member, ...] = (),
) -> tuple[int, Any]:
    """Call ``path`` as ``sender``; none of ``watch`` receives anything."""
    before = [len(m.received()) for m in watch]
    status, _, answer = sender.call(method, f"{V}/{path}", raw=raw, frm=sender.party, to=to)
    assert [len(m.received()) for m in watch] == before
    return status, answer


# --- discovery and registration ------------------------------------------------------------


def test_the_2_3_0_version_details_list_payments_and_2_2_1_does_not(net: Network) -> None:
    status, _, body = net.ptp.call("GET", V)
    assert status == 200, body
    listed = {(e["identifier"], e["role"]): e["url"] for e in body["data"]["endpoints"]}
    assert listed[("payments", "SENDER")] == f"{net.hub.url}{V}/sender/payments"
    assert listed[("payments", "RECEIVER")] == f"{net.hub.url}{V}/receiver/payments"
    status, _, old = net.old.call("GET", "/ocpi/2.2.1")
    assert status == 200, old
    assert "payments" not in {e["identifier"] for e in old["data"]["endpoints"]}


def test_a_ptp_registers_in_2_3_0_with_its_role_and_is_listed_to_its_partner(
    net: Network,
) -> None:
    platform = net.hub.platform(net.ptp.id)
    assert (platform["status"], platform["version"]) == ("CONNECTED", "2.3.0")
    assert [(r["role"], r["party_id"]) for r in platform["registered_roles"]] == [("PTP", "PTP")]
    assert ("payments", "SENDER") in {(e["identifier"], e["role"]) for e in platform["endpoints"]}
    # The 2.3.0 CPO is told of its partner, as the PTP it is (2.3.0 §7.3.1).
    status, _, body = net.cpo.call("GET", f"{V}/credentials")
    assert status == 200, body
    assert ("PY", "PTP", "PTP") in {
        (r["country_code"], r["party_id"], r["role"]) for r in body["data"]["roles"]
    }


def test_a_ptp_is_offered_2_3_0_only_and_refused_in_2_2_1(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data") as hub:
        created = hub.add_platform("PTP", ("PY", "PTQ", "PTP"))
        token_a = created["token_a"]
        auth = {"Authorization": f"Token {b64(token_a)}"}
        status, _, body = client.request("GET", hub.versions_url, headers=auth)
        assert body["data"] == [{"version": "2.3.0", "url": f"{hub.url}/ocpi/2.3.0"}]

        # A 2.2.1 PTP registering itself: no version in common (3002), nothing stored.
        with FakePlatform(roles=[("PY", "PTQ", "PTP")], modules=[("payments", "SENDER")]) as old:
            with pytest.raises(RegistrationError):
                old.register(hub.versions_url, token_a)  # the hub lists no 2.2.1 for it
            offer = old.own_credentials(old.token_a)  # a token it accepts
            status, _, body = client.request(
                "POST", f"{hub.url}/ocpi/2.2.1/credentials", headers=auth, body=offer
            )
            assert (status, body["status_code"]) == (400, 3002), body
            assert "no common version" in body["status_message"]
            # The hub registering at it: the same.
            connect = {"versions_url": old.versions_url, "token": old.token_a}
            status, _, body = hub.admin("POST", f"/platforms/{created['id']}/connect", connect)
            assert status == 502 and "no common version" in json.dumps(body), body
        assert hub.platform(created["id"])["version"] is None

        # In 2.3.0 it registers.
        with FakePlatform(
            roles=[("PY", "PTQ", "PTP")], version="2.3.0", modules=[("payments", "SENDER")]
        ) as new:
            status, body = new.register(hub.versions_url, token_a)
            assert (status, body["status_code"]) == (200, 1000), body
        assert hub.platform(created["id"])["version"] == "2.3.0"


def test_the_operator_may_grant_ptp_but_not_hub(net: Network) -> None:
    role = {"country_code": "PY", "party_id": "PTZ", "role": "ptp"}
    grant: dict[str, Any] = {"name": "x", "roles": [role]}
    status, _, created = net.hub.admin("POST", "/platforms", grant)
    assert status == 201, created
    assert [r["role"] for r in created["roles"]] == ["PTP"]
    role["role"] = "HUB"
    status, _, answer = net.hub.admin("POST", "/platforms", grant)
    assert status == 400 and "PTP" in answer["error"], answer
    net.hub.admin("DELETE", f"/platforms/{created['id']}")


# --- routed calls --------------------------------------------------------------------------


def test_terminals_and_confirmations_from_the_ptp_reach_the_cpo_as_sent(net: Network) -> None:
    ptp, cpo = net.ptp, net.cpo
    base = "/ocpi/2.3.0/payments/receiver"
    for name in ("terminal_create_minimal", "terminal_create"):
        got = forwarded(ptp, cpo, "POST", "receiver/payments/terminals", example(name))
        assert (got.path, got.raw_body) == (f"{base}/terminals", example(name))
        assert (got.headers["ocpi-from-party-id"], got.headers["ocpi-to-party-id"]) == (
            "PTP",
            "CPO",
        )
    for name in (
        "financial_advice_confirmation_create",
        "financial_advice_confirmation_example_failure",
    ):
        got = forwarded(
            ptp, cpo, "POST", "receiver/payments/financial-advice-confirmations", example(name)
        )
        assert (got.path, got.raw_body) == (f"{base}/financial-advice-confirmations", example(name))
    got = forwarded(ptp, cpo, "GET", f"receiver/payments/terminals/{TERMINAL}")
    assert got.path == f"{base}/terminals/{TERMINAL}"
    got = forwarded(ptp, cpo, "GET", "receiver/payments/financial-advice-confirmations/F-1")
    assert got.path == f"{base}/financial-advice-confirmations/F-1"


def test_the_cpo_reads_activates_and_updates_terminals_at_the_ptp(net: Network) -> None:
    ptp, cpo = net.ptp, net.cpo
    base = "/ocpi/2.3.0/payments/sender/terminals"
    got = forwarded(
        cpo, ptp, "PUT", f"sender/payments/terminals/{TERMINAL}", example("terminal_put_update")
    )
    assert (got.path, got.raw_body) == (f"{base}/{TERMINAL}", example("terminal_put_update"))
    patch = example("terminal_location_assignment")
    got = forwarded(cpo, ptp, "PATCH", f"sender/payments/terminals/{TERMINAL}", patch)
    assert (got.path, got.raw_body) == (f"{base}/{TERMINAL}", patch)
    full = example("terminal_example_assigned_locations")
    whole = json.loads(full)
    got = forwarded(cpo, ptp, "PUT", f"sender/payments/terminals/{whole['terminal_id']}", full)
    assert got.raw_body == full
    got = forwarded(
        cpo, ptp, "POST", "sender/payments/terminals/activate", example("terminal_activate")
    )
    assert (got.path, got.raw_body) == (f"{base}/activate", example("terminal_activate"))
    got = forwarded(cpo, ptp, "POST", f"sender/payments/terminals/{TERMINAL}/deactivate")
    assert got.path == f"{base}/{TERMINAL}/deactivate"
    got = forwarded(cpo, ptp, "GET", "sender/payments/terminals?date_from=2019-01-28T12:00:00Z")
    assert (got.path, got.query) == (base, "date_from=2019-01-28T12:00:00Z")
    got = forwarded(cpo, ptp, "GET", "sender/payments/financial-advice-confirmations/F-1")
    assert got.path == "/ocpi/2.3.0/payments/sender/financial-advice-confirmations/F-1"


def test_bad_payments_bodies_and_urls_are_2001_and_not_sent(net: Network) -> None:
    ptp, cpo = net.ptp, net.cpo
    advice = json.loads(example("financial_advice_confirmation_create"))
    del advice["authorization_reference"]
    status, answer = refused(
        ptp,
        "POST",
        "receiver/payments/financial-advice-confirmations",
        json.dumps(advice).encode(),
        to=CPO,
        watch=(cpo,),
    )
    assert (status, answer["status_code"]) == (400, 2001), answer
    assert "authorization_reference" in answer["status_message"]
    status, answer = refused(
        ptp, "POST", "receiver/payments/terminals", b'{"address": "Street 1"}', to=CPO, watch=(cpo,)
    )
    assert (status, answer["status_code"]) == (400, 2001) and "terminal_id" in answer[
        "status_message"
    ]
    other = json.loads(example("terminal_example_newly_created"))
    status, answer = refused(
        cpo,
        "PUT",
        f"sender/payments/terminals/{TERMINAL}",
        json.dumps(other).encode(),
        to=PTP,
        watch=(ptp,),
    )
    assert (status, answer["status_code"]) == (400, 2001) and "terminal_id" in answer[
        "status_message"
    ]
    status, answer = refused(
        cpo,
        "PATCH",
        f"sender/payments/terminals/{TERMINAL}",
        b'{"location_ids": "L1"}',
        to=PTP,
        watch=(ptp,),
    )
    assert (status, answer["status_code"]) == (400, 2001) and "location_ids" in answer[
        "status_message"
    ]
    # URLs the spec does not define below the module's.
    for who, method, path, to in (
        (ptp, "POST", "receiver/payments/invoices", CPO),
        (ptp, "GET", "receiver/payments/terminals", CPO),
        (cpo, "PUT", "sender/payments/financial-advice-confirmations/F-1", PTP),
    ):
        status, answer = refused(who, method, path, b"{}" if method != "GET" else None, to=to)
        assert (status, answer["status_code"]) == (400, 2001), (path, answer)
    # Methods the module does not define: 405.
    status, answer = refused(ptp, "DELETE", f"receiver/payments/terminals/{TERMINAL}", to=CPO)
    assert status == 405, answer


def test_each_side_uses_its_own_interface(net: Network) -> None:
    status, answer = refused(net.ptp, "GET", f"sender/payments/terminals/{TERMINAL}", to=CPO)
    assert (status, answer["status_code"]) == (403, 2000) and "PTP" in answer["status_message"]
    status, answer = refused(
        net.cpo, "POST", "receiver/payments/terminals", example("terminal_create_minimal"), to=PTP
    )
    assert (status, answer["status_code"]) == (403, 2000), answer


def test_a_2_2_1_cpo_is_no_payments_receiver_nor_sender(net: Network) -> None:
    status, answer = refused(
        net.ptp,
        "POST",
        "receiver/payments/terminals",
        example("terminal_create_minimal"),
        to=OLD,
        watch=(net.old,),
    )
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert "2.2.1" in answer["status_message"] and "payments" in answer["status_message"]
    assert not net.old.received(path="payments")
    # Nor does it reach the PTP, on any URL.
    for url in ("/ocpi/2.2.1", V):
        status, _, answer = net.old.call(
            "GET", f"{url}/sender/payments/terminals/{TERMINAL}", frm=OLD, to=PTP
        )
        assert (status, answer["status_code"]) == (404, 2000), answer
    assert not net.ptp.received(path="/terminals/")


def test_payments_are_never_broadcast(net: Network) -> None:
    raw = example("terminal_create_minimal")
    everyone = (net.ptp, net.cpo, net.old)
    status, answer = refused(
        net.ptp, "POST", "receiver/payments/terminals", raw, to=HUB, watch=everyone
    )
    assert (status, answer["status_code"]) == (404, 4001), answer
    status, answer = refused(net.cpo, "GET", "sender/payments/terminals", to=HUB, watch=everyone)
    assert (status, answer["status_code"]) == (404, 4001), answer


def test_without_open_routing_the_receiver_must_be_named(net: Network) -> None:
    status, answer = refused(
        net.ptp, "POST", "receiver/payments/terminals", example("terminal_create_minimal")
    )
    assert (status, answer["status_code"]) == (404, 4001), answer


def test_payments_go_only_between_partners_for_payments(net: Network) -> None:
    _, _, found = net.hub.admin("GET", "/agreements")
    for agreement in found:
        net.hub.admin("DELETE", f"/agreements/{agreement['id']}")
    raw = example("terminal_create")
    status, answer = refused(
        net.ptp, "POST", "receiver/payments/terminals", raw, to=CPO, watch=(net.cpo,)
    )
    assert (status, answer["status_code"]) == (404, 4001), answer
    assert "no roaming agreement" in answer["status_message"]
    agree(net.hub, CPO, PTP, "locations")
    status, answer = refused(
        net.ptp, "POST", "receiver/payments/terminals", raw, to=CPO, watch=(net.cpo,)
    )
    assert (status, answer["status_code"]) == (404, 4001), answer
    agree(net.hub, CPO, PTP, "payments")
    forwarded(net.ptp, net.cpo, "POST", "receiver/payments/terminals", raw)


def test_hubclientinfo_names_a_ptp_to_2_3_0_platforms_only(net: Network) -> None:
    """PTP is no 2.2.1 Role: a 2.2.1 platform is never told of a PTP party, pushed or pulled;
    a 2.3.0 partner is."""

    def roles(who: Member, version: str) -> set[tuple[str, str, str]]:
        status, _, answer = who.call("GET", f"/ocpi/{version}/hubclientinfo?limit=100")
        assert (status, answer["status_code"]) == (200, 1000), answer
        return {(i["country_code"], i["party_id"], i["role"]) for i in answer["data"]}

    assert (*PTP, "PTP") in roles(net.cpo, "2.3.0")
    assert (*PTP, "PTP") not in roles(net.old, "2.2.1")
    assert (*OLD, "CPO") in roles(net.old, "2.2.1")  # its own party, as before
    pushed = [r.body for r in net.old.received("PUT", "/ocpi/2.2.1/hubclientinfo")]
    assert all(body["role"] != "PTP" for body in pushed)
