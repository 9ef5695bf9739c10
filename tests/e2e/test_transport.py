"""Transport rules every OCPI answer of the hub keeps (2.2.1 transport and format)."""

from __future__ import annotations

import re

import pytest

from tests import client
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64

UTC_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
MODULES = ("cdrs", "chargingprofiles", "commands", "locations", "sessions", "tariffs", "tokens")


@pytest.fixture(scope="module")
def token_c(hub: HubProcess) -> str:
    """A registered CPO's token C on the shared hub."""
    created = hub.add_platform("Transport CPO", ("PT", "TRA", "CPO"))
    with FakePlatform(roles=[("PT", "TRA", "CPO")]) as cpo:
        status, answer = cpo.register(hub.versions_url, created["token_a"])
        assert status == 200, answer
        return str(answer["data"]["token"])


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {b64(token)}"}


def assert_envelope(body: dict[str, object], status_code: int) -> None:
    assert body["status_code"] == status_code
    assert isinstance(body["timestamp"], str)
    assert UTC_Z.match(body["timestamp"])


def test_request_ids_are_echoed(hub: HubProcess, token_c: str) -> None:
    headers = {**auth(token_c), "X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"}
    status, answer_headers, body = client.request("GET", hub.versions_url, headers=headers)
    assert status == 200
    assert answer_headers["x-request-id"] == "req-1"
    assert answer_headers["x-correlation-id"] == "corr-1"
    assert_envelope(body, 1000)


def test_request_ids_are_generated_when_absent(hub: HubProcess) -> None:
    status, headers, body = client.request("GET", hub.versions_url)
    assert status == 401
    assert len(headers["x-request-id"]) == 36
    assert len(headers["x-correlation-id"]) == 36
    assert headers["x-request-id"] != headers["x-correlation-id"]
    assert_envelope(body, 2000)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Token",
        "Token ",
        "Bearer abc",
        "Token unknown-token",
        "Token " + b64("unknown-token"),
        "Token !!!not base64!!!",
    ],
)
def test_missing_or_unknown_tokens_get_401(hub: HubProcess, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    for url in (hub.versions_url, f"{hub.url}/ocpi/2.2.1", f"{hub.url}/ocpi/2.2.1/credentials"):
        status, _, body = client.request("GET", url, headers=headers)
        assert status == 401, url
        assert_envelope(body, 2000)
        assert body["status_message"]


def test_the_token_scheme_is_case_insensitive(hub: HubProcess, token_c: str) -> None:
    status, _, _ = client.request(
        "GET", hub.versions_url, headers={"authorization": f"token {b64(token_c)}"}
    )
    assert status == 200


def test_version_details_list_every_module_both_ways(hub: HubProcess, token_c: str) -> None:
    status, _, body = client.request("GET", hub.versions_url, headers=auth(token_c))
    assert status == 200
    # 2.3.0 first (README: "OCPI 2.3.0 platforms"); a platform of one CPO role may also use
    # 2.1.1 (README: "OCPI 2.1.1 platforms").
    assert body["data"] == [
        {"version": "2.3.0", "url": f"{hub.url}/ocpi/2.3.0"},
        {"version": "2.2.1", "url": f"{hub.url}/ocpi/2.2.1"},
        {"version": "2.1.1", "url": f"{hub.url}/ocpi/2.1.1"},
    ]

    status, _, body = client.request("GET", body["data"][1]["url"], headers=auth(token_c))

    assert status == 200
    assert body["data"]["version"] == "2.2.1"
    endpoints = {(e["identifier"], e["role"]): e["url"] for e in body["data"]["endpoints"]}
    assert ("credentials", "SENDER") in endpoints
    assert ("hubclientinfo", "SENDER") in endpoints
    for module in MODULES:
        assert endpoints[(module, "SENDER")] == f"{hub.url}/ocpi/2.2.1/sender/{module}"
        assert endpoints[(module, "RECEIVER")] == f"{hub.url}/ocpi/2.2.1/receiver/{module}"
    assert len(endpoints) == 2 + 2 * len(MODULES)


def test_unknown_routes_get_a_json_404(hub: HubProcess, token_c: str) -> None:
    for path in ("/nope", "/ocpi/2.2.1/sender/unknown", "/ocpi/9.9", "/ocpi/2.2.1/elsewhere/x"):
        status, headers, body = client.request("GET", hub.url + path, headers=auth(token_c))
        assert status == 404, path
        assert headers["content-type"] == "application/json"
        assert_envelope(body, 2000)


def test_a_wrong_method_gets_a_json_405(hub: HubProcess, token_c: str) -> None:
    status, _, body = client.request("POST", hub.versions_url, headers=auth(token_c))
    assert status == 405
    assert_envelope(body, 2000)


@pytest.mark.parametrize("path", ["/ocpi/2.2.1/credentials", "/ocpi/2.2.1/receiver/locations"])
def test_a_body_that_is_not_json_gets_400(hub: HubProcess, token_c: str, path: str) -> None:
    status, _, body = client.request(
        "PUT", hub.url + path, headers=auth(token_c), raw=b'{"token": "abc"'
    )
    assert status == 400
    assert_envelope(body, 2000)
    assert "JSON" in body["status_message"]


@pytest.mark.parametrize("suffix", ["", "/"])
def test_urls_with_and_without_a_trailing_slash(hub: HubProcess, token_c: str, suffix: str) -> None:
    for path in ("/ocpi/versions", "/ocpi/2.2.1", "/ocpi/2.2.1/credentials"):
        status, _, body = client.request("GET", hub.url + path + suffix, headers=auth(token_c))
        assert status == 200, path + suffix  # never a redirect
        assert_envelope(body, 1000)


def test_health(hub: HubProcess) -> None:
    assert client.request("GET", f"{hub.url}/healthz")[0] == 200
    status, _, body = client.request("GET", f"{hub.url}/readyz")
    assert (status, body["status"]) == (200, "ready")
