"""Registration of OCPI 2.3.0 platforms end to end (2.3.0 §6, §7; README: "OCPI 2.3.0
platforms"): the real hub and simulated 2.3.0 platforms that are real OCPI servers, registering
in both directions, rotating, unregistering, refused as in 2.2.1; the hub's 2.3.0 credentials
(``hub_party_id`` and the parties the platform can reach), the credentials PUT when that set
changes, and a 2.3.0 platform addressing the hub by the halves of ``hub_party_id``."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from tests import client
from tests.e2e.network import Member, member
from tests.e2e.objects import location
from tests.hubproc import HubProcess
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import FakePlatform, b64
from tests.waiting import wait_for

NewParty = Callable[[], str]
Hub = HubProcess | InProcessHub
Platforms = Callable[..., FakePlatform]

V = "/ocpi/2.3.0"
HUB = ("NL", "HUB")
# What the hub's default settings make of it alone (2.3.0 §7.3.1: at least one role, and no HUB
# role in 2.3.0, §17.10): its own party as OTHER.
ALONE = [
    {
        "role": "OTHER",
        "business_details": {"name": "ocpi-hub"},
        "party_id": "HUB",
        "country_code": "NL",
    }
]


def get(url: str, token: str) -> tuple[int, dict[str, str], Any]:
    return client.request("GET", url, headers={"Authorization": f"Token {b64(token)}"})


def call(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    status, _, answer = client.request(
        method, url, headers={"Authorization": f"Token {b64(token)}"}, body=body
    )
    return status, answer


def endpoints(platform: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(e["identifier"], e["role"]) for e in platform["endpoints"]}


def connect(hub: Hub, platform_id: str, fake: FakePlatform) -> tuple[int, Any]:
    body = {"versions_url": fake.versions_url, "token": fake.token_a}
    status, _, answer = hub.admin("POST", f"/platforms/{platform_id}/connect", body)
    return status, answer


def role(cc: str, pid: str, kind: str, name: str) -> dict[str, Any]:
    return {
        "role": kind,
        "business_details": {"name": name},
        "party_id": pid,
        "country_code": cc,
    }


def parties(credentials: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(r["country_code"], r["party_id"], r["role"]) for r in credentials["roles"]}


# --- discovery ---------------------------------------------------------------------------


def test_2_3_0_is_listed_first_for_every_platform(hub: Hub, party_id: NewParty) -> None:
    one = hub.add_platform("CPO", ("NL", party_id(), "CPO"))
    two = hub.add_platform("Both", ("NL", party_id(), "CPO"), ("NL", party_id(), "EMSP"))
    newest = {"version": "2.3.0", "url": f"{hub.url}/ocpi/2.3.0"}
    middle = {"version": "2.2.1", "url": f"{hub.url}/ocpi/2.2.1"}
    oldest = {"version": "2.1.1", "url": f"{hub.url}/ocpi/2.1.1"}
    assert get(hub.versions_url, one["token_a"])[2]["data"] == [newest, middle, oldest]
    assert get(hub.versions_url, two["token_a"])[2]["data"] == [newest, middle]


def test_the_2_3_0_version_details(hub: Hub, party_id: NewParty) -> None:
    created = hub.add_platform("CPO", ("NL", party_id(), "CPO"))
    status, _, body = get(f"{hub.url}/ocpi/2.3.0", created["token_a"])
    assert (status, body["status_code"], body["data"]["version"]) == (200, 1000, "2.3.0")
    listed = {(e["identifier"], e["role"]): e["url"] for e in body["data"]["endpoints"]}
    _, _, old = get(f"{hub.url}/ocpi/2.2.1", created["token_a"])
    # The 2.2.1 modules and roles, each at its 2.3.0 URL, and Payments (2.3.0 §16).
    assert listed == {
        **{
            (e["identifier"], e["role"]): e["url"].replace("/ocpi/2.2.1/", "/ocpi/2.3.0/")
            for e in old["data"]["endpoints"]
        },
        ("payments", "SENDER"): f"{hub.url}/ocpi/2.3.0/sender/payments",
        ("payments", "RECEIVER"): f"{hub.url}/ocpi/2.3.0/receiver/payments",
    }
    assert listed[("locations", "RECEIVER")] == f"{hub.url}/ocpi/2.3.0/receiver/locations"
    assert listed[("hubclientinfo", "SENDER")] == f"{hub.url}/ocpi/2.3.0/hubclientinfo"
    assert get(f"{hub.url}/ocpi/2.3.0", "no-such-token")[0] == 401
    status, answer = call("POST", f"{hub.url}/ocpi/2.3.0", created["token_a"])
    assert (status, answer["status_code"]) == (405, 2000)


# --- the platform registers ----------------------------------------------------------------


def test_a_2_3_0_platform_registers_itself_updates_and_unregisters(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data") as hub, ExitStack() as stack:
        cpo = stack.enter_context(member(hub, ("NL", "CPA", "CPO"), name="Charging A"))
        created = hub.add_platform("eMSP", ("NL", "EMA", "EMSP"))
        fake = stack.enter_context(
            FakePlatform(roles=[("NL", "EMA", "EMSP")], name="Driving A", version="2.3.0")
        )

        status, answer = fake.register(created["versions_url"], created["token_a"])

        assert (status, answer["status_code"]) == (200, 1000), answer
        token_c = answer["data"]["token"]
        assert answer["data"] == {
            "token": token_c,
            "url": hub.versions_url,
            "hub_party_id": "NLHUB",
            "roles": [role("NL", "CPA", "CPO", "Charging A")],
        }
        assert [r.path for r in fake.find_requests("GET")] == ["/ocpi/versions", "/ocpi/2.3.0"]
        platform = hub.platform(created["id"])
        assert (platform["status"], platform["version"]) == ("CONNECTED", "2.3.0")
        assert (platform["registered_by"], platform["sends_base64"]) == ("platform", True)
        assert ("locations", "RECEIVER") in endpoints(platform)
        assert platform["registered_roles"] == [role("NL", "EMA", "EMSP", "Driving A")]
        assert get(hub.versions_url, created["token_a"])[0] == 401
        status, _, body = get(f"{hub.url}/ocpi/2.3.0/credentials", token_c)
        assert (status, body["data"]["token"], body["data"]["hub_party_id"]) == (
            200,
            token_c,
            "NLHUB",
        )
        assert parties(body["data"]) == {("NL", "CPA", "CPO")}
        # The hub's own party is never one of the roles, in whatever version the CPO is.
        assert cpo.fake.peer_credentials is not None
        assert cpo.fake.peer_credentials["roles"][0]["role"] == "HUB"

        status, answer = fake.update_credentials()

        assert (status, answer["status_code"]) == (200, 1000), answer
        assert answer["data"]["token"] == fake.peer_token != token_c
        assert parties(answer["data"]) == {("NL", "CPA", "CPO")}
        assert get(hub.versions_url, token_c)[0] == 401
        # It answered; the hub did not call its credentials.
        assert fake.find_requests("PUT", "/ocpi/2.3.0/credentials") == []

        status, answer = fake.unregister()

        assert (status, answer["status_code"]) == (200, 1000), answer
        platform = hub.platform(created["id"])
        assert (platform["status"], platform["version"]) == ("PLANNED", None)
        assert get(hub.versions_url, fake.peer_token or "")[0] == 401


def test_the_credentials_methods_refused_as_in_2_2_1(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    url = f"{hub.url}/ocpi/2.3.0/credentials"
    offer = {
        "token": "t" * 20,
        "url": "http://127.0.0.1:1/ocpi/versions",
        "roles": [role("NL", pid, "CPO", "P")],
    }
    for method in ("PUT", "DELETE"):  # not registered yet (2.3.0 §7.2.3, §7.2.4)
        status, answer = call(method, url, created["token_a"], body=offer)
        assert (status, answer["status_code"]) == (405, 2000), method
    status, answer = call("PATCH", url, created["token_a"], body=offer)
    assert (status, answer["status_code"]) == (405, 2000)
    # A 2.1.1 object is not a 2.3.0 one: 2001 names what is missing.
    flat = {"token": "t" * 20, "url": offer["url"], "party_id": pid, "country_code": "NL"}
    status, answer = call("POST", url, created["token_a"], body=flat)
    assert (status, answer["status_code"]) == (400, 2001)
    assert "roles" in answer["status_message"]
    # Token A opens versions and credentials only, on 2.3.0 URLs as on 2.2.1's.
    status, answer = call("GET", f"{hub.url}/ocpi/2.3.0/sender/locations", created["token_a"])
    assert (status, answer["status_code"]) == (401, 2000)

    fake = platforms(("NL", pid, "CPO"), version="2.3.0")
    assert fake.register(hub.versions_url, created["token_a"])[0] == 200
    status, answer = call("POST", url, fake.peer_token or "", body=offer)
    assert (status, answer["status_code"]) == (405, 2000)


@pytest.mark.parametrize(
    ("kwargs", "ocpi_status", "said"),
    [
        ({"versions_broken": True}, 3001, "cannot read the versions"),
        ({"versions": ["2.2.1"]}, 3002, "you offer 2.2.1"),
        ({"with_credentials_endpoint": False}, 3003, "the credentials endpoint"),
        ({"modules": []}, 3003, "any functional module endpoint"),
    ],
    ids=["3001", "3002", "3003-credentials", "3003-modules"],
)
def test_a_2_3_0_registration_that_fails_leaves_nothing(
    hub: Hub,
    party_id: NewParty,
    platforms: Platforms,
    kwargs: dict[str, Any],
    ocpi_status: int,
    said: str,
) -> None:
    pid = party_id()
    created = hub.add_platform("New", ("NL", pid, "CPO"))
    fake = platforms(("NL", pid, "CPO"), **{"version": "2.3.0", **kwargs})
    # It registers in 2.3.0 (at the hub's 2.3.0 credentials) whatever it offers back.
    fake.version = "2.3.0"

    status, answer = fake.register(hub.versions_url, created["token_a"])

    assert (status, answer["status_code"]) == (400, ocpi_status), answer
    assert said in answer["status_message"]
    platform = hub.platform(created["id"])
    assert (platform["status"], platform["version"], platform["endpoints"]) == (
        "PLANNED",
        None,
        [],
    )
    assert get(hub.versions_url, created["token_a"])[0] == 200  # it may try again


def test_a_party_not_granted_is_refused_both_ways(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    granted, other = party_id(), party_id()
    created = hub.add_platform("CPO", ("NL", granted, "CPO"))
    liar = platforms(("NL", other, "CPO"), version="2.3.0")

    status, answer = liar.register(hub.versions_url, created["token_a"])

    assert (status, answer["status_code"]) == (403, 2000)
    assert f"NL/{other}/CPO" in answer["status_message"]
    assert liar.find_requests("GET") == []

    status, error = connect(hub, created["id"], liar)

    assert status == 403, error
    assert not liar.registered
    (goodbye,) = liar.find_requests("DELETE", "/ocpi/2.3.0/credentials")
    assert goodbye.authorization == f"Token {b64(liar.issued_token or '')}"
    assert hub.platform(created["id"])["status"] == "PLANNED"


# --- the hub registers ---------------------------------------------------------------------


def test_the_hub_registers_at_a_2_3_0_platform_and_rotates(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data") as hub, ExitStack() as stack:
        stack.enter_context(member(hub, ("NL", "CPA", "CPO"), name="Charging A"))
        created = hub.add_platform("New", ("BE", "EMB", "EMSP"))
        fake = stack.enter_context(
            FakePlatform(
                roles=[("BE", "EMB", "EMSP")],
                name="Driving B",
                versions=["2.2.1", "2.3.0"],
                hub_party_id=None,
            )
        )
        fake.version = "2.3.0"

        status, platform = connect(hub, created["id"], fake)

        assert status == 200, platform
        assert (platform["status"], platform["version"]) == ("CONNECTED", "2.3.0")
        assert (platform["registered_by"], platform["sends_base64"]) == ("hub", True)
        assert platform["registered_roles"] == [role("BE", "EMB", "EMSP", "Driving B")]
        (post,) = fake.find_requests("POST")
        assert post.path == "/ocpi/2.3.0/credentials"  # the highest both speak
        assert post.body == {
            "token": fake.peer_token,
            "url": hub.versions_url,
            "hub_party_id": "NLHUB",
            "roles": [role("NL", "CPA", "CPO", "Charging A")],
        }

        old_platform_token = fake.issued_token
        status, _, platform = hub.admin("POST", f"/platforms/{created['id']}/rotate")

        assert status == 200, platform
        (put,) = fake.find_requests("PUT", "/ocpi/2.3.0/credentials")
        assert put.authorization == f"Token {b64(old_platform_token or '')}"
        assert put.body["hub_party_id"] == "NLHUB"
        assert put.body["roles"] == post.body["roles"]
        assert put.body["token"] == fake.peer_token != post.body["token"]
        assert get(hub.versions_url, post.body["token"])[0] == 401
        assert platform["version"] == "2.3.0"


def test_the_pin_takes_2_3_0(hub: Hub, party_id: NewParty, platforms: Platforms) -> None:
    pid = party_id()
    created = hub.add_platform("Pinned", ("NL", pid, "CPO"))
    status, _, pinned = hub.admin("PATCH", f"/platforms/{created['id']}", {"version": "2.3.0"})
    assert (status, pinned["version_pin"]) == (200, "2.3.0")
    # Pinned to 2.3.0, offered 2.2.1 only: no common version.
    fake = platforms(("NL", pid, "CPO"), versions=["2.2.1"])
    status, error = connect(hub, created["id"], fake)
    assert (status, error["ocpi_status"]) == (502, 3002), error
    assert "pinned this platform to 2.3.0" in error["error"]
    # Pinned to 2.2.1, offered both: 2.2.1.
    hub.admin("PATCH", f"/platforms/{created['id']}", {"version": "2.2.1"})
    fake = platforms(("NL", pid, "CPO"), versions=["2.3.0", "2.2.1"])
    status, platform = connect(hub, created["id"], fake)
    assert (status, platform["version"]) == (200, "2.2.1"), platform


# --- whom a 2.3.0 platform can reach, and the PUT when that changes -------------------------


@pytest.fixture
def required_hub(tmp_path: Path) -> Iterator[InProcessHub]:
    with own_hub(tmp_path / "data", agreements="required", roles_debounce=0.3) as hub:
        yield hub


def agreement(cpo: tuple[str, str], partner: tuple[str, str]) -> dict[str, Any]:
    return {
        "cpo": {"country_code": cpo[0], "party_id": cpo[1]},
        "partner": {"country_code": partner[0], "party_id": partner[1]},
    }


def roles_puts(at: Member) -> list[dict[str, Any]]:
    return [r.body for r in at.fake.find_requests("PUT", "/ocpi/2.3.0/credentials")]


def settled(at: Member, count: int) -> list[dict[str, Any]]:
    """The credentials PUTs ``at`` received, once there are ``count`` and no more come for
    twice the debounce."""
    found = wait_for(lambda: p if len(p := roles_puts(at)) >= count else None, timeout=10)
    assert found is not None, roles_puts(at)
    time.sleep(0.8)
    assert len(roles_puts(at)) == count, roles_puts(at)
    return roles_puts(at)


def test_the_roles_follow_the_agreements_with_one_put_per_change(
    required_hub: InProcessHub,
) -> None:
    hub = required_hub
    with ExitStack() as stack:
        emsp = stack.enter_context(
            member(hub, ("NL", "EMA", "EMSP"), name="Driving A", version="2.3.0")
        )
        cpos = [
            stack.enter_context(member(hub, ("NL", f"CP{i}", "CPO"), name=f"Charging {i}"))
            for i in range(5)
        ]
        # Nobody to reach yet, under --agreements required.
        assert emsp.fake.peer_credentials is not None
        assert emsp.fake.peer_credentials["roles"] == ALONE
        assert emsp.fake.peer_credentials["hub_party_id"] == "NLHUB"

        # Five agreements imported at once: one PUT, with the five CPOs.
        items = [agreement(("NL", f"CP{i}"), ("NL", "EMA")) for i in range(5)]
        status, _, answer = hub.admin("POST", "/agreements/import", items)
        assert status == 200, answer
        (put,) = settled(emsp, 1)
        assert put["hub_party_id"] == "NLHUB"
        assert put["roles"] == [role("NL", f"CP{i}", "CPO", f"Charging {i}") for i in range(5)]
        # It carries a new token, which the platform now calls with; the old one is dead.
        assert put["token"] == emsp.fake.peer_token
        assert emsp.call("GET", f"{V}/credentials")[0] == 200
        platform = hub.platform(emsp.id)
        assert (platform["status"], platform["version"]) == ("CONNECTED", "2.3.0")
        # CPOs are 2.2.1 platforms: nothing of the kind for them (HubClientInfo tells them).
        assert all(c.fake.find_requests("PUT", "/ocpi/2.2.1/credentials") == [] for c in cpos)

        # An agreement ends: one more PUT, without that CPO.
        status, _, found = hub.admin("GET", "/agreements")
        assert status == 200
        ended = next(a for a in found if a["cpo"]["party_id"] == "CP0")
        assert hub.admin("DELETE", f"/agreements/{ended['id']}")[0] == 200
        puts = settled(emsp, 2)
        assert [r["party_id"] for r in puts[1]["roles"]] == ["CP1", "CP2", "CP3", "CP4"]

        # A CPO is suspended, and resumed: a PUT without it, and one with it again.
        assert hub.admin("POST", f"/platforms/{cpos[1].id}/suspend")[0] == 200
        puts = settled(emsp, 3)
        assert [r["party_id"] for r in puts[2]["roles"]] == ["CP2", "CP3", "CP4"]
        assert hub.admin("POST", f"/platforms/{cpos[1].id}/resume")[0] == 200
        puts = settled(emsp, 4)
        assert [r["party_id"] for r in puts[3]["roles"]] == ["CP1", "CP2", "CP3", "CP4"]

        # A change that does not concern it sends nothing.
        with member(hub, ("NL", "OTH", "CPO")):
            settled(emsp, 4)


def test_a_platform_that_registers_is_added_when_agreements_are_off(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data", roles_debounce=0.3) as hub, ExitStack() as stack:
        emsp = stack.enter_context(member(hub, ("NL", "EMA", "EMSP"), version="2.3.0"))
        assert emsp.fake.peer_credentials is not None
        assert emsp.fake.peer_credentials["roles"] == ALONE

        cpo = stack.enter_context(member(hub, ("NL", "CPA", "CPO"), name="Charging A"))

        (put,) = settled(emsp, 1)
        assert put["roles"] == [role("NL", "CPA", "CPO", "Charging A")]
        # It leaves (unregisters): the hub says so.
        assert cpo.fake.unregister()[0] == 200
        puts = settled(emsp, 2)
        assert puts[1]["roles"] == ALONE


# --- a 2.3.0 platform addresses the hub -------------------------------------------------------


def test_a_2_3_0_cpo_broadcasts_and_gets_all_by_hub_party_id(required_hub: InProcessHub) -> None:
    hub = required_hub
    with ExitStack() as stack:
        cpo = stack.enter_context(member(hub, ("NL", "CPA", "CPO"), version="2.3.0"))
        emsp = stack.enter_context(member(hub, ("NL", "EMA", "EMSP")))
        assert hub.admin("POST", "/agreements", agreement(("NL", "CPA"), ("NL", "EMA")))[0] == 201
        # The halves of hub_party_id, as the hub's credentials gave it.
        assert cpo.fake.peer_credentials is not None
        hub_party_id = cpo.fake.peer_credentials["hub_party_id"]
        to = (hub_party_id[:2], hub_party_id[2:])
        assert to == HUB

        loc = location(("NL", "CPA"), "LOC-230")
        status, headers, answer = cpo.call(
            "PUT", f"{V}/receiver/locations/NL/CPA/LOC-230", body=loc, to=to
        )

        assert (status, answer["status_code"]) == (200, 1000), answer
        assert (headers["ocpi-from-country-code"], headers["ocpi-from-party-id"]) == HUB
        found = wait_for(
            lambda: emsp.received("PUT", "/ocpi/2.2.1/locations/receiver/NL/CPA/LOC-230") or None,
            timeout=10,
        )
        assert found is not None
        assert found[0].body["id"] == "LOC-230"
        # GET-all from the hub, addressed the same way, on the 2.3.0 URL.
        status, headers, answer = emsp.call("GET", "/ocpi/2.2.1/sender/locations", to=HUB)
        assert (status, answer["status_code"]) == (200, 1000), answer
        assert [o["id"] for o in answer["data"]] == ["LOC-230"]
        status, headers, answer = cpo.call("GET", f"{V}/sender/tokens", to=to)
        assert (status, answer["status_code"]) == (200, 1000), answer
        assert answer["data"] == []
        assert "/ocpi/2.3.0/sender/tokens" in headers.get("link", "/ocpi/2.3.0/sender/tokens")


def test_hubclientinfo_at_its_2_3_0_url(hub: Hub, party_id: NewParty) -> None:
    with member(hub, ("NL", party_id(), "EMSP"), version="2.3.0") as emsp:
        status, headers, body = emsp.call("GET", f"{V}/hubclientinfo?limit=1")
        assert (status, body["status_code"]) == (200, 1000), body
        assert len(body["data"]) == 1
        assert f"{hub.url}/ocpi/2.3.0/hubclientinfo" in headers["link"]
