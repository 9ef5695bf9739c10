"""Registration end to end: the real hub, and simulated platforms that are real OCPI servers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests import client
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64

NewParty = Callable[[], str]


def registered(
    hub: HubProcess, platforms: Any, *roles: tuple[str, str, str]
) -> tuple[dict[str, Any], FakePlatform]:
    """A platform created with these roles, and a simulated platform registered with it."""
    created = hub.add_platform("Platform", *roles)
    fake = platforms(*roles)
    status, answer = fake.register(hub.versions_url, created["token_a"])
    assert status == 200, answer
    return created, fake


def ocpi_get(url: str, token: str, *, raw: bool = False) -> tuple[int, dict[str, str], Any]:
    value = token if raw else b64(token)
    return client.request("GET", url, headers={"Authorization": f"Token {value}"})


def test_a_cpo_registers_itself(hub: HubProcess, party_id: NewParty, platforms: Any) -> None:
    pid = party_id()
    created = hub.add_platform("CPO A", ("NL", pid, "CPO"))
    assert created["status"] == "PLANNED"
    assert created["versions_url"] == hub.versions_url
    cpo = platforms(("NL", pid, "CPO"), name="CPO A")

    status, answer = cpo.register(created["versions_url"], created["token_a"])

    assert status == 200, answer
    assert answer["status_code"] == 1000
    credentials = answer["data"]
    assert credentials["url"] == hub.versions_url
    assert credentials["roles"] == [
        {
            "role": "HUB",
            "business_details": {"name": "ocpi-hub"},
            "party_id": "HUB",
            "country_code": "NL",
        }
    ]
    token_c = credentials["token"]
    assert token_c not in (created["token_a"], cpo.issued_token)
    # The hub read the platform's versions and details with the token the platform sent (B),
    # Base64-encoded as 2.2.1 wants.
    callbacks = cpo.find_requests("GET")
    assert [r.path for r in callbacks] == ["/ocpi/versions", "/ocpi/2.2.1"]
    assert all(r.authorization == f"Token {b64(cpo.issued_token)}" for r in callbacks)

    platform = hub.platform(created["id"])
    assert platform["status"] == "CONNECTED"
    assert platform["version"] == "2.2.1"
    assert platform["registered_by"] == "platform"
    assert platform["platform_versions_url"] == cpo.versions_url
    assert {(e["identifier"], e["role"]) for e in platform["endpoints"]} >= {
        ("credentials", None) if False else ("credentials", "SENDER"),
        ("locations", "SENDER"),
        ("tokens", "RECEIVER"),
    }
    assert platform["registered_roles"][0]["business_details"] == {"name": "CPO A"}
    assert platform["sends_base64"] is True
    # Token A is dead; token C works, raw or Base64. No token shows in the admin's view.
    assert ocpi_get(hub.versions_url, created["token_a"])[0] == 401
    assert ocpi_get(hub.versions_url, token_c)[0] == 200
    assert ocpi_get(hub.versions_url, token_c, raw=True)[0] == 200
    status, _, body = cpo.call("GET", f"{hub.url}/ocpi/2.2.1/credentials")
    assert status == 200
    assert body["data"]["token"] == token_c
    shown = str(hub.platform(created["id"]))
    assert all(t not in shown for t in (created["token_a"], token_c, cpo.issued_token))


def test_token_a_cannot_register_twice(hub: HubProcess, party_id: NewParty, platforms: Any) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    first = platforms(("NL", pid, "CPO"))
    assert first.register(hub.versions_url, created["token_a"])[0] == 200
    second = platforms(("NL", pid, "CPO"))

    status, answer = second.register(hub.versions_url, created["token_a"])

    assert status == 401
    assert answer["status_code"] == 2000
    # The registered platform may not POST again either: 405 (credentials module).
    status, _, body = first.call(
        "POST", f"{hub.url}/ocpi/2.2.1/credentials", body=first.own_credentials("x" * 20)
    )
    assert (status, body["status_code"]) == (405, 2000)


def test_a_two_role_platform_registers_both_roles(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    cpo, emsp = ("DE", party_id(), "CPO"), ("DE", party_id(), "EMSP")
    created = hub.add_platform("Both", cpo, emsp)
    both = platforms(cpo, emsp)

    assert both.register(hub.versions_url, created["token_a"])[0] == 200

    platform = hub.platform(created["id"])
    assert {(r["party_id"], r["role"]) for r in platform["registered_roles"]} == {
        (cpo[1], "CPO"),
        (emsp[1], "EMSP"),
    }


def test_a_role_not_granted_is_refused_and_nothing_is_stored(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    granted, other = party_id(), party_id()
    created = hub.add_platform("CPO", ("NL", granted, "CPO"))
    liar = platforms(("NL", granted, "CPO"), ("NL", other, "CPO"))

    status, answer = liar.register(hub.versions_url, created["token_a"])

    assert status == 403
    assert answer["status_code"] == 2000
    assert f"NL/{other}/CPO" in answer["status_message"]
    assert liar.find_requests("GET") == []  # the hub did not even call it back
    assert hub.platform(created["id"])["status"] == "PLANNED"
    # Token A still works for an honest attempt.
    honest = platforms(("NL", granted, "CPO"))
    assert honest.register(hub.versions_url, created["token_a"])[0] == 200


@pytest.mark.parametrize(
    ("kwargs", "ocpi_status"),
    [
        ({"versions_broken": True}, 3001),
        ({"versions": ["2.1.1"]}, 3002),
        ({"with_credentials_endpoint": False}, 3003),
        ({"modules": []}, 3003),
    ],
)
def test_handshake_failures(
    hub: HubProcess,
    party_id: NewParty,
    platforms: Any,
    kwargs: dict[str, Any],
    ocpi_status: int,
) -> None:
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    cpo = platforms(("NL", pid, "CPO"), **kwargs)

    status, answer = cpo.register(hub.versions_url, created["token_a"])

    assert status == 400
    assert answer["status_code"] == ocpi_status, answer
    assert answer["status_message"]
    assert hub.platform(created["id"])["status"] == "PLANNED"
    assert ocpi_get(hub.versions_url, created["token_a"])[0] == 200  # token A is still alive


def test_a_platform_that_wants_raw_tokens(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    pid = party_id()
    created = hub.add_platform("Raw", ("NL", pid, "EMSP"))
    emsp = platforms(("NL", pid, "EMSP"), token_encoding="raw")

    assert emsp.register(hub.versions_url, created["token_a"])[0] == 200

    assert hub.platform(created["id"])["sends_base64"] is False
    assert emsp.peer_encoding_seen == "raw"


def test_the_hub_registers_at_a_platform(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("BE", pid, "EMSP"))
    emsp = platforms(("BE", pid, "EMSP"), name="eMSP B")

    status, _, platform = hub.admin(
        "POST",
        f"/platforms/{created['id']}/connect",
        {"versions_url": emsp.versions_url, "token": emsp.token_a},
    )

    assert status == 200, platform
    assert platform["status"] == "CONNECTED"
    assert platform["registered_by"] == "hub"
    assert platform["registered_roles"][0]["party_id"] == pid
    assert emsp.registered
    assert emsp.peer_versions_url == hub.versions_url
    assert emsp.peer_credentials is not None
    assert emsp.peer_credentials["roles"][0]["role"] == "HUB"
    # The token the hub gave the platform (B) opens the hub; the hub's token A for this
    # platform is dead now that it is registered.
    assert ocpi_get(hub.versions_url, emsp.peer_token)[0] == 200
    assert ocpi_get(hub.versions_url, created["token_a"])[0] == 401
    # Connecting twice is refused.
    status, _, error = hub.admin(
        "POST",
        f"/platforms/{created['id']}/connect",
        {"versions_url": emsp.versions_url, "token": emsp.token_a},
    )
    assert status == 409, error


def test_connect_to_a_platform_without_a_common_version(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    pid = party_id()
    created = hub.add_platform("Old", ("BE", pid, "CPO"))
    old = platforms(("BE", pid, "CPO"), versions=["2.0"])

    status, _, error = hub.admin(
        "POST",
        f"/platforms/{created['id']}/connect",
        {"versions_url": old.versions_url, "token": old.token_a},
    )

    assert status == 502
    assert error["ocpi_status"] == 3002
    assert "2.0" in error["error"]
    assert hub.platform(created["id"])["status"] == "PLANNED"


def test_connect_refuses_roles_that_were_not_granted(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    granted, other = party_id(), party_id()
    created = hub.add_platform("CPO", ("BE", granted, "CPO"))
    fake = platforms(("BE", other, "CPO"))

    status, _, error = hub.admin(
        "POST",
        f"/platforms/{created['id']}/connect",
        {"versions_url": fake.versions_url, "token": fake.token_a},
    )

    assert status == 403, error
    assert hub.platform(created["id"])["status"] == "PLANNED"
    assert not fake.registered  # the hub undid the registration it will not keep


def test_the_hub_rotates_tokens(hub: HubProcess, party_id: NewParty, platforms: Any) -> None:
    pid = party_id()
    created = hub.add_platform("eMSP", ("FR", pid, "EMSP"))
    emsp = platforms(("FR", pid, "EMSP"))
    assert emsp.register(hub.versions_url, created["token_a"])[0] == 200
    old_hub_token, old_platform_token = emsp.peer_token, emsp.issued_token
    assert old_hub_token is not None

    status, _, platform = hub.admin("POST", f"/platforms/{created['id']}/rotate")

    assert status == 200, platform
    # The platform got a new token for the hub and gave the hub a new one of its own.
    assert emsp.peer_token not in (None, old_hub_token)
    assert emsp.issued_token != old_platform_token
    assert ocpi_get(hub.versions_url, old_hub_token)[0] == 401
    assert ocpi_get(hub.versions_url, emsp.peer_token)[0] == 200
    put = emsp.find_requests("PUT", "/ocpi/2.2.1/credentials")[-1]
    assert put.authorization == f"Token {b64(old_platform_token or '')}"
    # A second rotation uses the new token of the platform.
    assert hub.admin("POST", f"/platforms/{created['id']}/rotate")[0] == 200
    put = emsp.find_requests("PUT", "/ocpi/2.2.1/credentials")[-1]
    assert put.authorization != f"Token {b64(old_platform_token or '')}"


def test_a_platform_updates_its_credentials(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    pid = party_id()
    _, cpo = registered(hub, platforms, ("NL", pid, "CPO"))
    old = cpo.peer_token
    assert old is not None

    status, answer = cpo.update_credentials()

    assert status == 200, answer
    assert cpo.peer_token != old
    assert ocpi_get(hub.versions_url, old)[0] == 401
    assert ocpi_get(hub.versions_url, cpo.peer_token or "")[0] == 200
    # The hub read the versions again with the new token B.
    assert cpo.find_requests("GET")[-1].authorization == f"Token {b64(cpo.issued_token or '')}"


def test_a_platform_unregisters(hub: HubProcess, party_id: NewParty, platforms: Any) -> None:
    pid = party_id()
    created, cpo = registered(hub, platforms, ("NL", pid, "CPO"))
    token_c = cpo.peer_token or ""

    status, answer = cpo.unregister()

    assert status == 200, answer
    assert ocpi_get(hub.versions_url, token_c)[0] == 401
    platform = hub.platform(created["id"])
    assert platform["status"] == "PLANNED"
    assert platform["endpoints"] == []
    # A new token A from the operator lets it come back.
    status, _, fresh = hub.admin("POST", f"/platforms/{created['id']}/token-a")
    assert status == 200
    again = platforms(("NL", pid, "CPO"))
    assert again.register(hub.versions_url, fresh["token_a"])[0] == 200


def test_credentials_methods_before_registration(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    created = hub.add_platform("CPO", ("NL", party_id(), "CPO"))
    url = f"{hub.url}/ocpi/2.2.1/credentials"
    auth = {"Authorization": f"Token {b64(created['token_a'])}"}

    for method in ("PUT", "DELETE"):
        status, _, body = client.request(method, url, headers=auth, body={})
        assert (status, body["status_code"]) == (405, 2000), method
    status, _, body = client.request("GET", url, headers=auth)
    assert status == 200
    assert body["data"]["token"] == created["token_a"]
    # Token A opens versions and credentials only.
    status, _, body = client.request("GET", f"{hub.url}/ocpi/2.2.1/sender/locations", headers=auth)
    assert (status, body["status_code"]) == (401, 2000)


def test_a_credentials_body_with_a_bad_field(hub: HubProcess, party_id: NewParty) -> None:
    created = hub.add_platform("CPO", ("NL", party_id(), "CPO"))
    auth = {"Authorization": f"Token {b64(created['token_a'])}"}
    offer = {
        "token": "abc",
        "url": "http://127.0.0.1:1/versions",
        "roles": [
            {
                "role": "CPO",
                "party_id": "TOOLONG",
                "country_code": "NL",
                "business_details": {"name": "x"},
            }
        ],
    }

    status, _, body = client.request(
        "POST", f"{hub.url}/ocpi/2.2.1/credentials", headers=auth, body=offer
    )

    assert (status, body["status_code"]) == (400, 2001)
    assert "roles[0].party_id" in body["status_message"]


def test_suspended_platforms_are_refused(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    pid = party_id()
    created, cpo = registered(hub, platforms, ("NL", pid, "CPO"))

    status, _, platform = hub.admin("POST", f"/platforms/{created['id']}/suspend")
    assert (status, platform["status"]) == (200, "SUSPENDED")
    assert ocpi_get(hub.versions_url, cpo.peer_token or "")[0] == 401

    status, _, platform = hub.admin("POST", f"/platforms/{created['id']}/resume")
    assert (status, platform["status"]) == (200, "CONNECTED")
    assert ocpi_get(hub.versions_url, cpo.peer_token or "")[0] == 200


def test_removing_a_platform(hub: HubProcess, party_id: NewParty, platforms: Any) -> None:
    pid = party_id()
    created, cpo = registered(hub, platforms, ("NL", pid, "CPO"))

    status, _, _ = hub.admin("DELETE", f"/platforms/{created['id']}")

    assert status == 204
    assert ocpi_get(hub.versions_url, cpo.peer_token or "")[0] == 401
    platform = hub.platform(created["id"])
    assert (platform["status"], platform["deleted"]) == ("SUSPENDED", True)
    assert cpo.find_requests("DELETE", "/ocpi/2.2.1/credentials")  # the platform was told
    assert not cpo.registered
    # Its role is free for a new platform.
    hub.add_platform("CPO again", ("NL", pid, "CPO"))
