"""The admin API over HTTP (README: "Admin API")."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.web import admin
from tests import client
from tests.hubproc import HubProcess
from tests.parties import FakePlatform

NewParty = Callable[[], str]


@pytest.mark.parametrize("header", [None, "Bearer wrong", "Token test-admin-token-0123456789"])
def test_the_admin_token_is_required(hub: HubProcess, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    status, answer_headers, body = client.request(
        "GET", f"{hub.url}/admin/platforms", headers=headers
    )
    assert status == 401
    assert answer_headers["content-type"] == "application/json"
    assert body["status"] == 401
    assert "Bearer" in body["error"]


@pytest.mark.parametrize(
    ("body", "status", "mentions"),
    [
        ({"roles": [{"country_code": "NL", "party_id": "AAA", "role": "CPO"}]}, 400, "name"),
        ({"name": "x", "roles": []}, 400, "roles"),
        (
            {"name": "x", "roles": [{"country_code": "NLD", "party_id": "AAA", "role": "CPO"}]},
            400,
            "roles[0].country_code",
        ),
        (
            {"name": "x", "roles": [{"country_code": "NL", "party_id": "A:B", "role": "CPO"}]},
            400,
            "roles[0].party_id",
        ),
        (
            {"name": "x", "roles": [{"country_code": "N ", "party_id": "ABC", "role": "CPO"}]},
            400,
            "roles[0].country_code",
        ),
        (
            {"name": "x", "roles": [{"country_code": "NL", "party_id": "AB\n", "role": "CPO"}]},
            400,
            "roles[0].party_id",
        ),
        (
            {"name": "x", "roles": [{"country_code": "NL", "party_id": "AAA", "role": "HUB"}]},
            400,
            "roles[0].role",
        ),
        (
            {
                "name": "x",
                "roles": [{"country_code": "NL", "party_id": "AAA", "role": "CPO"}],
                "token_encoding": "rot13",
            },
            400,
            "token_encoding",
        ),
        (
            {"name": "x", "roles": [{"country_code": "NL", "party_id": "HUB", "role": "CPO"}]},
            409,
            "hub's own party",
        ),
        (
            {
                "name": "x",
                "roles": [
                    {"country_code": "NL", "party_id": "TWI", "role": "CPO"},
                    {"country_code": "nl", "party_id": "twi", "role": "CPO"},
                ],
            },
            400,
            "roles[1] is given twice",
        ),
    ],
)
def test_invalid_platforms_are_refused(
    hub: HubProcess, body: dict[str, object], status: int, mentions: str
) -> None:
    answer_status, _, answer = hub.admin("POST", "/platforms", body)
    assert answer_status == status, answer
    assert mentions in answer["error"]


def test_a_body_that_is_not_json(hub: HubProcess) -> None:
    status, _, answer = client.request(
        "POST",
        f"{hub.url}/admin/platforms",
        raw=b"name=x",
        headers={"Authorization": f"Bearer {hub.admin_token}"},
    )
    assert status == 400
    assert "JSON" in answer["error"]


def test_a_role_is_granted_to_one_platform_only(hub: HubProcess, party_id: NewParty) -> None:
    pid = party_id()
    first = hub.add_platform("First", ("NL", pid, "CPO"))
    status, _, answer = hub.admin(
        "POST",
        "/platforms",
        {
            "name": "Second",
            "roles": [{"country_code": "nl", "party_id": pid.lower(), "role": "CPO"}],
        },
    )
    assert status == 409
    assert f"NL:{pid}:CPO" in answer["error"]
    # The same party may hold another role on another platform.
    hub.add_platform("Second", ("NL", pid, "EMSP"))
    assert hub.platform(first["id"])["roles"] == [
        {"country_code": "NL", "party_id": pid, "role": "CPO"}
    ]


def test_list_show_and_change(hub: HubProcess, party_id: NewParty) -> None:
    created = hub.add_platform("Listed", ("NL", party_id(), "NSP"))

    status, _, listed = hub.admin("GET", "/platforms")
    assert status == 200
    assert created["id"] in [p["id"] for p in listed]
    assert all("token_a" not in p for p in listed)

    status, _, changed = hub.admin(
        "PATCH", f"/platforms/{created['id']}", {"name": "Renamed", "token_encoding": "raw"}
    )
    assert status == 200
    assert (changed["name"], changed["token_encoding"], changed["sends_base64"]) == (
        "Renamed",
        "raw",
        False,
    )


def test_a_forced_raw_encoding_is_used_in_the_handshake(
    hub: HubProcess, party_id: NewParty
) -> None:
    pid = party_id()
    created = hub.add_platform("Raw", ("NL", pid, "CPO"), token_encoding="raw")
    with FakePlatform(roles=[("NL", pid, "CPO")], token_encoding="both") as cpo:
        status, _, platform = hub.admin(
            "POST",
            f"/platforms/{created['id']}/connect",
            {"versions_url": cpo.versions_url, "token": cpo.token_a},
        )
        assert status == 200, platform
        assert cpo.find_requests("GET")[0].authorization == f"Token {cpo.token_a}"
        assert platform["sends_base64"] is False


def test_unknown_platforms_and_actions(hub: HubProcess) -> None:
    for method, path in [
        ("GET", "/platforms/nope"),
        ("DELETE", "/platforms/nope"),
        ("POST", "/platforms/nope/rotate"),
        ("GET", "/platforms/0123456789ab"),
        ("GET", "/platforms/x%7D%7Bhub"),
        ("GET", "/dead-letters?platform=x%7D"),
        ("GET", "/nothing-here"),
    ]:
        status, headers, body = hub.admin(method, path)
        assert status == 404, path
        assert headers["content-type"] == "application/json"
        assert "error" in body


def test_an_action_the_admin_api_does_not_have_is_404(hub: HubProcess, party_id: NewParty) -> None:
    created = hub.add_platform("Actions", ("NL", party_id(), "CPO"))
    status, _, body = hub.admin("POST", f"/platforms/{created['id']}/reboot")
    assert (status, body["error"]) == (404, "no admin action 'reboot'")
    assert hub.platform(created["id"])["status"] == "PLANNED"


def test_actions_in_the_wrong_state(hub: HubProcess, party_id: NewParty) -> None:
    created = hub.add_platform("Planned", ("NL", party_id(), "CPO"))
    status, _, body = hub.admin("POST", f"/platforms/{created['id']}/rotate")
    assert status == 409, body
    assert hub.admin("POST", f"/platforms/{created['id']}/suspend")[0] == 200
    status, _, body = hub.admin(
        "POST",
        f"/platforms/{created['id']}/connect",
        {"versions_url": "http://127.0.0.1:1/versions", "token": "abc"},
    )
    assert status == 409, body
    assert "suspended" in body["error"]
    assert hub.admin("DELETE", f"/platforms/{created['id']}")[0] == 204
    for action in ("suspend", "resume", "token-a"):
        status, _, body = hub.admin("POST", f"/platforms/{created['id']}/{action}")
        assert status == 409, (action, body)


def test_the_openapi_document_describes_every_route(hub: HubProcess) -> None:
    status, _, document = client.request("GET", f"{hub.url}/admin/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    described = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = set()
    for route in admin.routes():
        for method in route.methods or ():
            if method == "HEAD":
                continue
            if "{action}" in route.path:
                for action in ("connect", "rotate", "suspend", "resume", "token-a"):
                    served.add((route.path.replace("{action}", action), method))
            else:
                served.add((route.path, method))
    assert served == described


def test_platforms_created_at_the_same_moment_all_get_their_roles(
    hub: HubProcess, party_id: NewParty
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    ids = [party_id() for _ in range(12)]

    def create(pid: str) -> int:
        body = {"name": pid, "roles": [{"country_code": "NL", "party_id": pid, "role": "CPO"}]}
        return hub.admin("POST", "/platforms", body)[0]

    with ThreadPoolExecutor(12) as pool:
        assert list(pool.map(create, ids)) == [201] * 12


def test_a_method_an_admin_endpoint_lacks_is_405_with_allow(hub: HubProcess) -> None:
    status, answer_headers, body = hub.admin("DELETE", "/queues")
    assert status == 405
    assert answer_headers["allow"] == "GET, HEAD"
    assert body["status"] == 405
