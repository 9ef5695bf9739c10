"""Registration of OCPI 2.1.1 platforms end to end (2.1.1 credentials.md; README: "OCPI 2.1.1
platforms"): the real hub, and simulated 2.1.1 platforms that are real OCPI servers, registering
in both directions, rotating, unregistering, refused where 2.2.1 refuses, switching version by a
credentials PUT, and the operator's version pin."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests import client
from tests.e2e.network import member
from tests.hubproc import HubProcess
from tests.inprocess import InProcessHub
from tests.parties import FakePlatform, b64

NewParty = Callable[[], str]
Hub = HubProcess | InProcessHub
Platforms = Callable[..., FakePlatform]

# What the hub's default settings make of it in 2.1.1 (2.1.1 credentials.md §2.1).
HUB_PARTY = {"business_details": {"name": "ocpi-hub"}, "party_id": "HUB", "country_code": "NL"}
MODULES_211 = ("cdrs", "commands", "locations", "sessions", "tariffs", "tokens")
# The interface behind each endpoint a 2.1.1 platform of the role publishes: each 2.1.1 module's
# "CPO interface" or "eMSP interface" as the 2.2.1 Sender or Receiver of that module.
ENDPOINTS = {
    "CPO": {
        ("credentials", None),
        ("locations", "SENDER"),
        ("sessions", "SENDER"),
        ("cdrs", "SENDER"),
        ("tariffs", "SENDER"),
        ("tokens", "RECEIVER"),
        ("commands", "RECEIVER"),
    },
    "EMSP": {
        ("credentials", None),
        ("locations", "RECEIVER"),
        ("sessions", "RECEIVER"),
        ("cdrs", "RECEIVER"),
        ("tariffs", "RECEIVER"),
        ("tokens", "SENDER"),
        ("commands", "SENDER"),
    },
}


def get(url: str, token: str, *, raw: bool = False) -> tuple[int, dict[str, str], Any]:
    value = token if raw else b64(token)
    return client.request("GET", url, headers={"Authorization": f"Token {value}"})


def call(method: str, url: str, token: str, body: Any = None) -> tuple[int, Any]:
    """A call with a raw token, as a 2.1.1 platform sends it."""
    status, _, answer = client.request(
        method, url, headers={"Authorization": f"Token {token}"}, body=body
    )
    return status, answer


def endpoints(platform: dict[str, Any]) -> set[tuple[str, str | None]]:
    return {(e["identifier"], e["role"]) for e in platform["endpoints"]}


def connect(hub: Hub, platform_id: str, fake: FakePlatform) -> tuple[int, Any]:
    body = {"versions_url": fake.versions_url, "token": fake.token_a}
    status, _, answer = hub.admin("POST", f"/platforms/{platform_id}/connect", body)
    return status, answer


def flat(token: str, url: str, party_id: str, name: str = "P") -> dict[str, Any]:
    """A 2.1.1 credentials object (2.1.1 credentials.md §2.1)."""
    return {
        "token": token,
        "url": url,
        "business_details": {"name": name},
        "party_id": party_id,
        "country_code": "NL",
    }


# --- discovery ---------------------------------------------------------------------------


def test_2_1_1_is_offered_to_a_platform_of_one_cpo_or_emsp_role(
    hub: Hub, party_id: NewParty
) -> None:
    cpo = hub.add_platform("CPO", ("NL", party_id(), "CPO"))
    emsp = hub.add_platform("eMSP", ("NL", party_id(), "EMSP"))
    both = hub.add_platform("Both", ("NL", party_id(), "CPO"), ("NL", party_id(), "EMSP"))
    nsp = hub.add_platform("NSP", ("NL", party_id(), "NSP"))
    # 2.3.0 is offered to every platform (README: "OCPI 2.3.0 platforms").
    newest = {"version": "2.3.0", "url": f"{hub.url}/ocpi/2.3.0"}
    middle = {"version": "2.2.1", "url": f"{hub.url}/ocpi/2.2.1"}
    oldest = {"version": "2.1.1", "url": f"{hub.url}/ocpi/2.1.1"}

    for created in (cpo, emsp):
        status, _, body = get(hub.versions_url, created["token_a"], raw=True)
        assert (status, body["data"]) == (200, [newest, middle, oldest])
    for created in (both, nsp):
        status, _, body = get(hub.versions_url, created["token_a"])
        assert (status, body["data"]) == (200, [newest, middle])
        # Nor is what lies below its URL: as for a version the hub does not speak.
        for method in ("GET", "POST"):
            for path in ("/ocpi/2.1.1", "/ocpi/2.1.1/credentials"):
                status, answer = call(method, hub.url + path, created["token_a"], body={})
                expected = 405 if (method, path) == ("POST", "/ocpi/2.1.1") else 404
                assert (status, answer["status_code"]) == (expected, 2000), (method, path)
        assert (
            "one CPO or eMSP role"
            in get(f"{hub.url}/ocpi/2.1.1", created["token_a"])[2]["status_message"]
        )
    assert get(f"{hub.url}/ocpi/2.1.1", "no-such-token")[0] == 401


def test_the_version_details_for_a_cpo_and_an_emsp(hub: Hub, party_id: NewParty) -> None:
    documents = []
    for role in ("CPO", "EMSP"):
        created = hub.add_platform(role, ("NL", party_id(), role))
        status, _, body = get(f"{hub.url}/ocpi/2.1.1", created["token_a"], raw=True)
        assert (status, body["status_code"]) == (200, 1000)
        assert body["data"]["version"] == "2.1.1"
        listed = body["data"]["endpoints"]
        assert all(set(e) == {"identifier", "url"} for e in listed)  # 2.1.1 has no role
        urls = {e["identifier"]: e["url"] for e in listed}
        assert len(urls) == len(listed) == 1 + len(MODULES_211)
        assert urls == {m: f"{hub.url}/ocpi/2.1.1/{m}" for m in ("credentials", *MODULES_211)}
        documents.append(body["data"])
    # One URL per module: a CPO reaches the hub's eMSP interfaces there and an eMSP its CPO
    # interfaces; the caller's role tells which.
    assert documents[0] == documents[1]


# --- the platform registers ----------------------------------------------------------------


@pytest.mark.parametrize("role", ["CPO", "EMSP"])
def test_a_2_1_1_platform_registers_itself(
    hub: Hub, party_id: NewParty, platforms: Platforms, role: str
) -> None:
    pid = party_id()
    created = hub.add_platform("Old", ("NL", pid, role))
    fake = platforms(("NL", pid, role), name="Old platform", version="2.1.1")

    status, answer = fake.register(created["versions_url"], created["token_a"])

    assert (status, answer["status_code"]) == (200, 1000), answer
    token_c = answer["data"]["token"]
    assert answer["data"] == {"token": token_c, "url": hub.versions_url, **HUB_PARTY}
    # The hub read the versions and 2.1.1 details with the token B the platform sent, raw.
    callbacks = fake.find_requests("GET")
    assert [r.path for r in callbacks] == ["/ocpi/versions", "/ocpi/2.1.1"]
    assert {r.authorization for r in callbacks} == {f"Token {fake.issued_token}"}
    platform = hub.platform(created["id"])
    assert (platform["status"], platform["version"]) == ("CONNECTED", "2.1.1")
    assert (platform["registered_by"], platform["sends_base64"]) == ("platform", False)
    assert platform["platform_versions_url"] == fake.versions_url
    assert endpoints(platform) == ENDPOINTS[role]
    assert platform["registered_roles"] == [
        {
            "role": role,
            "business_details": {"name": "Old platform"},
            "party_id": pid,
            "country_code": "NL",
        }
    ]
    # Token A is dead; token C opens 2.1.1's versions, details and credentials, raw or Base64.
    assert get(hub.versions_url, created["token_a"], raw=True)[0] == 401
    for raw in (True, False):
        assert get(hub.versions_url, token_c, raw=raw)[0] == 200
        assert get(f"{hub.url}/ocpi/2.1.1", token_c, raw=raw)[0] == 200
        status, _, body = get(f"{hub.url}/ocpi/2.1.1/credentials", token_c, raw=raw)
        assert (status, body["data"]) == (
            200,
            {"token": token_c, "url": hub.versions_url, **HUB_PARTY},
        )
    assert fake.call("GET", f"{hub.url}/ocpi/2.1.1")[0] == 200  # as the platform sends it


def test_a_company_that_is_both_registers_two_platforms(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    """One party id, one platform per role (README: "OCPI 2.1.1 platforms"; 2.2.1 §17 changelog:
    one version endpoint for both roles came with 2.2), each with its own tokens and endpoints."""
    pid = party_id()
    found = {}
    for role in ("CPO", "EMSP"):
        created = hub.add_platform(f"Both {role}", ("NL", pid, role))
        fake = platforms(("NL", pid, role), version="2.1.1")
        assert fake.register(hub.versions_url, created["token_a"])[0] == 200
        found[role] = (hub.platform(created["id"]), fake.peer_token)
    for role, (platform, _token) in found.items():
        assert (platform["status"], platform["version"]) == ("CONNECTED", "2.1.1")
        assert endpoints(platform) == ENDPOINTS[role]
        assert platform["registered_roles"][0]["role"] == role
    assert found["CPO"][1] != found["EMSP"][1]


def test_an_emsp_without_commands_or_tokens_is_enough(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("NL", pid, "EMSP"))
    fake = platforms(("NL", pid, "EMSP"), version="2.1.1", modules=[("cdrs", "RECEIVER")])

    assert fake.register(hub.versions_url, created["token_a"])[0] == 200

    assert endpoints(hub.platform(created["id"])) == {("credentials", None), ("cdrs", "RECEIVER")}


def test_the_token_encoding_toward_a_2_1_1_platform(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    # Auto, and the platform takes only Base64: raw first, then Base64, which is kept.
    pid = party_id()
    created = hub.add_platform("B64", ("NL", pid, "CPO"))
    fake = platforms(("NL", pid, "CPO"), version="2.1.1", token_encoding="base64")
    assert fake.register(hub.versions_url, created["token_a"])[0] == 200
    tried = [r.authorization for r in fake.find_requests("GET")]
    token_b = fake.issued_token or ""
    assert tried == [f"Token {token_b}", f"Token {b64(token_b)}", f"Token {b64(token_b)}"]
    assert hub.platform(created["id"])["sends_base64"] is True
    # The operator's setting wins: only Base64 is tried, with a platform that takes both.
    pid = party_id()
    created = hub.add_platform("Set", ("NL", pid, "CPO"), token_encoding="base64")
    fake = platforms(("NL", pid, "CPO"), version="2.1.1")
    assert fake.register(hub.versions_url, created["token_a"])[0] == 200
    tried = [r.authorization for r in fake.find_requests("GET")]
    assert tried == [f"Token {b64(fake.issued_token or '')}"] * 2
    assert hub.platform(created["id"])["sends_base64"] is True


def test_a_registered_2_1_1_platform_updates_its_credentials_and_unregisters(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    fake = platforms(("NL", pid, "CPO"), version="2.1.1")
    assert fake.register(hub.versions_url, created["token_a"])[0] == 200
    old = fake.peer_token or ""

    status, answer = fake.update_credentials()

    assert (status, answer["status_code"]) == (200, 1000), answer
    assert answer["data"] == {"token": fake.peer_token, "url": hub.versions_url, **HUB_PARTY}
    assert fake.find_requests("PUT") == []  # the hub did not call it: it answered
    assert get(hub.versions_url, old, raw=True)[0] == 401
    assert get(hub.versions_url, fake.peer_token or "", raw=True)[0] == 200
    # The hub read its versions again, with the new token B, raw.
    assert fake.find_requests("GET")[-1].authorization == f"Token {fake.issued_token}"
    assert hub.platform(created["id"])["version"] == "2.1.1"

    token_c = fake.peer_token or ""
    status, answer = fake.unregister()

    assert (status, answer["status_code"]) == (200, 1000), answer
    assert get(hub.versions_url, token_c, raw=True)[0] == 401
    platform = hub.platform(created["id"])
    assert (platform["status"], platform["version"], platform["endpoints"]) == (
        "PLANNED",
        None,
        [],
    )
    status, _, fresh = hub.admin("POST", f"/platforms/{created['id']}/token-a")
    assert status == 200
    again = platforms(("NL", pid, "CPO"), version="2.1.1")
    assert again.register(hub.versions_url, fresh["token_a"])[0] == 200
    assert hub.platform(created["id"])["version"] == "2.1.1"


def test_the_credentials_methods_refused_as_in_2_2_1(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    url = f"{hub.url}/ocpi/2.1.1/credentials"
    offer = flat("t" * 20, "http://127.0.0.1:1/ocpi/versions", pid)
    for method in ("PUT", "DELETE"):  # not registered yet (2.1.1 credentials.md §1.3, §1.4)
        status, answer = call(method, url, created["token_a"], body=offer)
        assert (status, answer["status_code"]) == (405, 2000), method
    status, answer = call("PATCH", url, created["token_a"], body=offer)
    assert (status, answer["status_code"]) == (405, 2000)
    # Token A still opens versions and credentials only.
    status, answer = call("GET", f"{hub.url}/ocpi/2.2.1/sender/locations", created["token_a"])
    assert (status, answer["status_code"]) == (401, 2000)
    # A 2.2.1 object is not a 2.1.1 one: 2001 names what is missing, and nothing is stored.
    roles = {"token": "t" * 20, "url": offer["url"], "roles": [{"role": "CPO"}]}
    status, answer = call("POST", url, created["token_a"], body=roles)
    assert (status, answer["status_code"]) == (400, 2001)
    assert "business_details" in answer["status_message"]

    fake = platforms(("NL", pid, "CPO"), version="2.1.1")
    assert fake.register(hub.versions_url, created["token_a"])[0] == 200
    status, answer = call("POST", url, fake.peer_token or "", body=offer)  # §1.2
    assert (status, answer["status_code"]) == (405, 2000)
    assert hub.platform(created["id"])["status"] == "CONNECTED"


@pytest.mark.parametrize(
    ("role", "kwargs", "ocpi_status", "said"),
    [
        ("CPO", {"versions_broken": True}, 3001, "cannot read the versions"),
        ("CPO", {"versions": ["2.2.1"]}, 3002, "you offer 2.2.1"),
        ("EMSP", {"with_credentials_endpoint": False}, 3003, "the credentials endpoint"),
        ("CPO", {"modules": [("tokens", "RECEIVER")]}, 3003, "locations endpoint"),
        ("EMSP", {"modules": [("locations", "RECEIVER")]}, 3003, "tokens or cdrs endpoint"),
    ],
    ids=["3001", "3002", "3003-credentials", "3003-cpo", "3003-emsp"],
)
def test_a_2_1_1_registration_that_fails_leaves_nothing(
    hub: Hub,
    party_id: NewParty,
    platforms: Platforms,
    role: str,
    kwargs: dict[str, Any],
    ocpi_status: int,
    said: str,
) -> None:
    pid = party_id()
    created = hub.add_platform("Old", ("NL", pid, role))
    fake = platforms(("NL", pid, role), version="2.1.1", **kwargs)

    status, answer = fake.register(hub.versions_url, created["token_a"])

    assert (status, answer["status_code"]) == (400, ocpi_status), answer
    assert said in answer["status_message"]
    platform = hub.platform(created["id"])
    assert (platform["status"], platform["version"], platform["endpoints"]) == (
        "PLANNED",
        None,
        [],
    )
    assert get(hub.versions_url, created["token_a"], raw=True)[0] == 200  # it may try again


def test_a_party_not_granted_is_refused_both_ways(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    granted, other = party_id(), party_id()
    created = hub.add_platform("CPO", ("NL", granted, "CPO"))
    liar = platforms(("NL", other, "CPO"), version="2.1.1")

    status, answer = liar.register(hub.versions_url, created["token_a"])

    assert (status, answer["status_code"]) == (403, 2000)
    assert f"NL/{other}/CPO" in answer["status_message"]
    assert liar.find_requests("GET") == []  # the hub did not even call it back
    assert hub.platform(created["id"])["status"] == "PLANNED"
    assert get(hub.versions_url, created["token_a"], raw=True)[0] == 200

    # The hub registers at a platform that answers with another party: it is told goodbye.
    status, error = connect(hub, created["id"], liar)

    assert status == 403, error
    assert f"NL/{other}/CPO" in error["error"]
    assert not liar.registered
    (goodbye,) = liar.find_requests("DELETE", "/ocpi/2.1.1/credentials")
    assert goodbye.authorization == f"Token {liar.issued_token}"
    assert hub.platform(created["id"])["status"] == "PLANNED"
    honest = platforms(("NL", granted, "CPO"), version="2.1.1")
    assert honest.register(hub.versions_url, created["token_a"])[0] == 200


# --- the hub registers ---------------------------------------------------------------------


@pytest.mark.parametrize("role", ["CPO", "EMSP"])
def test_the_hub_registers_at_a_2_1_1_platform_and_rotates(
    hub: Hub, party_id: NewParty, platforms: Platforms, role: str
) -> None:
    pid = party_id()
    created = hub.add_platform("Old", ("BE", pid, role))
    fake = platforms(("BE", pid, role), name="Old platform", version="2.1.1")

    status, platform = connect(hub, created["id"], fake)

    assert status == 200, platform
    assert (platform["status"], platform["version"]) == ("CONNECTED", "2.1.1")
    assert (platform["registered_by"], platform["sends_base64"]) == ("hub", False)
    assert endpoints(platform) == ENDPOINTS[role]
    assert platform["registered_roles"][0]["party_id"] == pid
    assert platform["registered_roles"][0]["role"] == role
    assert fake.registered
    (post,) = fake.find_requests("POST", "/ocpi/2.1.1/credentials")
    assert post.body == {"token": fake.peer_token, "url": hub.versions_url, **HUB_PARTY}
    # The versions were read before the version was known (Base64 first, as 2.2.1 wants);
    # from the 2.1.1 details on, the token went raw.
    versions, details = fake.find_requests("GET")
    assert versions.authorization == f"Token {b64(fake.token_a)}"
    assert details.authorization == post.authorization == f"Token {fake.token_a}"
    assert get(hub.versions_url, fake.peer_token or "", raw=True)[0] == 200
    assert get(hub.versions_url, created["token_a"])[0] == 401

    old_hub_token, old_platform_token = fake.peer_token, fake.issued_token
    status, _, platform = hub.admin("POST", f"/platforms/{created['id']}/rotate")

    assert status == 200, platform
    (put,) = fake.find_requests("PUT", "/ocpi/2.1.1/credentials")
    assert put.authorization == f"Token {old_platform_token}"  # raw
    assert put.body == {"token": fake.peer_token, "url": hub.versions_url, **HUB_PARTY}
    assert fake.issued_token != old_platform_token
    assert get(hub.versions_url, old_hub_token or "")[0] == 401
    assert get(hub.versions_url, fake.peer_token or "", raw=True)[0] == 200
    assert platform["version"] == "2.1.1"
    assert platform["registered_roles"][0]["business_details"] == {"name": "Old platform"}


def test_the_hub_picks_the_highest_version_unless_pinned(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    # Offered both (2.1.1 listed first): 2.2.1, the highest.
    pid = party_id()
    created = hub.add_platform("Both", ("NL", pid, "CPO"))
    fake = platforms(("NL", pid, "CPO"), versions=["2.1.1", "2.2.1"], token_encoding="both")
    status, platform = connect(hub, created["id"], fake)
    assert (status, platform["version"], platform["sends_base64"]) == (200, "2.2.1", True)
    assert [r.path for r in fake.find_requests("POST")] == ["/ocpi/2.2.1/credentials"]
    assert ("locations", "SENDER") in endpoints(platform)

    # Pinned to 2.1.1: 2.1.1, and every call with the raw token.
    pid = party_id()
    created = hub.add_platform("Pinned", ("NL", pid, "CPO"))
    status, _, pinned = hub.admin("PATCH", f"/platforms/{created['id']}", {"version": "2.1.1"})
    assert (status, pinned["version_pin"], pinned["version"]) == (200, "2.1.1", None)
    fake = platforms(("NL", pid, "CPO"), versions=["2.2.1", "2.1.1"], token_encoding="both")
    status, platform = connect(hub, created["id"], fake)
    assert (status, platform["version"], platform["sends_base64"]) == (200, "2.1.1", False)
    assert [r.path for r in fake.find_requests("POST")] == ["/ocpi/2.1.1/credentials"]
    assert {r.authorization for r in fake.requests} == {f"Token {fake.token_a}"}
    assert fake.peer_encoding_seen == "raw"
    assert endpoints(platform) == ENDPOINTS["CPO"]
    assert platform["version_pin"] == "2.1.1"


@pytest.mark.parametrize(
    ("roles", "pin", "said"),
    [
        ([("CPO",)], "2.2.1", "pinned this platform to 2.2.1, you offer 2.1.1"),
        (
            [("CPO",), ("EMSP",)],
            None,
            "the hub speaks 2.3.0, 2.2.1 with this platform, you offer 2.1.1",
        ),
    ],
    ids=["pinned", "two-roles"],
)
def test_no_common_version_when_the_hub_starts(
    hub: Hub,
    party_id: NewParty,
    platforms: Platforms,
    roles: list[tuple[str]],
    pin: str | None,
    said: str,
) -> None:
    granted = [("NL", party_id(), role) for (role,) in roles]
    created = hub.add_platform("Old", *granted)
    if pin is not None:
        assert hub.admin("PATCH", f"/platforms/{created['id']}", {"version": pin})[0] == 200
    fake = platforms(*granted, versions=["2.1.1"])

    status, error = connect(hub, created["id"], fake)

    assert (status, error["ocpi_status"]) == (502, 3002), error
    assert said in error["error"]
    assert fake.find_requests("POST") == [] and not fake.registered
    assert hub.platform(created["id"])["status"] == "PLANNED"


# --- version switch ------------------------------------------------------------------------


def test_a_credentials_put_on_the_other_versions_url_switches_version(
    hub: Hub, party_id: NewParty, platforms: Platforms
) -> None:
    pid = party_id()
    created = hub.add_platform("Switching", ("NL", pid, "CPO"))
    fake = platforms(("NL", pid, "CPO"), name="Switching", versions=["2.2.1", "2.1.1"])
    assert fake.register(hub.versions_url, created["token_a"])[0] == 200
    assert hub.platform(created["id"])["version"] == "2.2.1"

    status, answer = fake.update_credentials("2.1.1")

    assert (status, answer["status_code"]) == (200, 1000), answer
    assert answer["data"] == {"token": fake.peer_token, "url": hub.versions_url, **HUB_PARTY}
    platform = hub.platform(created["id"])
    assert platform["version"] == "2.1.1"
    assert endpoints(platform) == ENDPOINTS["CPO"]
    assert platform["registered_roles"] == [
        {
            "role": "CPO",
            "business_details": {"name": "Switching"},
            "party_id": pid,
            "country_code": "NL",
        }
    ]
    # The hub re-read the platform's 2.1.1 details, raw first; the platform takes only Base64
    # (a 2.2.1 platform's habit), which the hub keeps.
    reads = [(r.path, r.authorization) for r in fake.find_requests("GET")][-3:]
    token_b = fake.issued_token or ""
    assert reads == [
        ("/ocpi/versions", f"Token {token_b}"),
        ("/ocpi/versions", f"Token {b64(token_b)}"),
        ("/ocpi/2.1.1", f"Token {b64(token_b)}"),
    ]
    assert platform["sends_base64"] is True
    # The hub's rotation speaks the platform's version now.
    assert hub.admin("POST", f"/platforms/{created['id']}/rotate")[0] == 200
    (rotation,) = fake.find_requests("PUT", "/ocpi/2.1.1/credentials")
    assert rotation.body == {"token": fake.peer_token, "url": hub.versions_url, **HUB_PARTY}

    status, answer = fake.update_credentials("2.2.1")

    assert (status, answer["status_code"]) == (200, 1000), answer
    assert answer["data"]["roles"][0]["role"] == "HUB"
    platform = hub.platform(created["id"])
    assert platform["version"] == "2.2.1"
    assert ("hubclientinfo", "RECEIVER") in endpoints(platform)
    assert platform["registered_roles"][0]["business_details"] == {"name": "Switching"}
    assert get(hub.versions_url, fake.peer_token or "")[0] == 200


# --- the operator's pin --------------------------------------------------------------------


def test_the_pin_in_the_admin_api(hub: Hub, party_id: NewParty) -> None:
    one = hub.add_platform("One", ("NL", party_id(), "EMSP"))
    path = f"/platforms/{one['id']}"
    assert one["version_pin"] is None
    for pin in ("2.1.1", "2.2.1"):
        status, _, changed = hub.admin("PATCH", path, {"version": pin})
        assert (status, changed["version_pin"]) == (200, pin)
    status, _, changed = hub.admin("PATCH", path, {"name": "Renamed"})
    assert (status, changed["version_pin"]) == (200, "2.2.1")  # left as it was
    status, _, changed = hub.admin("PATCH", path, {"version": None})
    assert (status, changed["version_pin"]) == (200, None)
    for wrong in ("2.0", "2.2", 2.1, "auto"):
        status, _, error = hub.admin("PATCH", path, {"version": wrong})
        assert (status, error["ocpi_status"]) == (400, 2001), wrong
        assert "version" in error["error"]
    assert hub.platform(one["id"])["version_pin"] is None

    two = hub.add_platform("Two", ("NL", party_id(), "CPO"), ("NL", party_id(), "EMSP"))
    nsp = hub.add_platform("NSP", ("NL", party_id(), "NSP"))
    for created in (two, nsp):
        status, _, error = hub.admin("PATCH", f"/platforms/{created['id']}", {"version": "2.1.1"})
        assert (status, error["ocpi_status"]) == (400, 2001), error
        assert error["error"].startswith("version: 2.1.1 is for a platform of exactly one")
        assert hub.platform(created["id"])["version_pin"] is None
        status, _, changed = hub.admin("PATCH", f"/platforms/{created['id']}", {"version": "2.2.1"})
        assert (status, changed["version_pin"]) == (200, "2.2.1")


# --- metrics, and a hub of its own process ----------------------------------------------------


def handshakes(hub: Hub, **labels: str) -> float:
    status, _, text = client.request("GET", f"{hub.url}/metrics")
    assert status == 200
    total = 0.0
    for line in str(text).splitlines():
        match = re.match(r"^ocpi_hub_handshakes_total\{(.*)\} (\S+)$", line)
        if match:
            found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            if all(found.get(k) == v for k, v in labels.items()):
                total += float(match.group(2))
    return total


def test_2_1_1_platforms_at_a_hub_process(
    hub_factory: Callable[..., HubProcess], party_id: NewParty, platforms: Platforms
) -> None:
    """``ocpi-hub serve`` as operators run it: a 2.1.1 CPO registers itself, the hub registers
    at a 2.1.1 eMSP; both are announced to a 2.2.1 platform as any party is, and counted."""
    hub = hub_factory().start()
    cpo_pid, emsp_pid = party_id(), party_id()
    created = hub.add_platform("CPO", ("NL", cpo_pid, "CPO"))
    cpo = platforms(("NL", cpo_pid, "CPO"), version="2.1.1")
    assert cpo.register(hub.versions_url, created["token_a"])[0] == 200
    created = hub.add_platform("eMSP", ("NL", emsp_pid, "EMSP"))
    emsp = platforms(("NL", emsp_pid, "EMSP"), version="2.1.1", modules=[("cdrs", "RECEIVER")])
    status, platform = connect(hub, created["id"], emsp)
    assert (status, platform["version"]) == (200, "2.1.1"), platform
    failed = platforms(("NL", party_id(), "CPO"), version="2.1.1", modules=[])
    created = hub.add_platform("Empty", failed.roles[0])
    assert failed.register(hub.versions_url, created["token_a"])[0] == 400

    ok = {"outcome": "ok", "version": "2.1.1"}
    assert handshakes(hub, kind="register", initiator="platform", **ok) == 1
    assert handshakes(hub, kind="register", initiator="hub", **ok) == 1
    assert handshakes(hub, kind="register", outcome="3003", version="2.1.1") == 1
    assert handshakes(hub, version="2.2.1") == 0

    with member(hub, ("NL", party_id(), "EMSP")) as modern:
        status, _, body = modern.call("GET", "/ocpi/2.2.1/hubclientinfo")
        assert status == 200, body
        listed = {(c["party_id"], c["role"], c["status"]) for c in body["data"]}
        assert {(cpo_pid, "CPO", "CONNECTED"), (emsp_pid, "EMSP", "CONNECTED")} <= listed
    assert handshakes(hub, kind="register", outcome="ok", version="2.2.1") == 1
