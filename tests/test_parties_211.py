"""Self-test of tests/parties.py as OCPI 2.1.1 platforms (one party, no roles, raw tokens)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.parties import MODULES_211, FakePlatform, RegistrationError, b64

CPO = [("NL", "CPA", "CPO")]
EMSP = [("DE", "EMB", "EMSP")]
HUB = [("NL", "HUB", "EMSP")]  # the in-test "hub" serves versions like a 2.1.1 eMSP
EXAMPLES = Path(__file__).parent / "examples" / "2.1.1"
ID_HEADERS = {"x-request-id", "x-correlation-id"}


@pytest.fixture
def cpo() -> Iterator[FakePlatform]:
    with FakePlatform(roles=CPO, name="CPO A", version="2.1.1") as platform:
        yield platform


@pytest.fixture
def hub() -> Iterator[FakePlatform]:
    with FakePlatform(roles=HUB, name="Hub", version="2.1.1") as platform:
        yield platform


def identifiers(platform: FakePlatform, version: str = "2.1.1") -> dict[str, str]:
    status, _, body = platform.call("GET", f"{platform.base_url}/ocpi/{version}", token="-")
    assert status == 401  # details need a token
    body = platform.call("GET", f"{platform.base_url}/ocpi/{version}", token=platform.token_a)[2]
    assert body["data"]["version"] == version
    return {e["identifier"]: e.get("role", "") for e in body["data"]["endpoints"]}


def test_versions_and_details_per_role(cpo: FakePlatform) -> None:
    assert cpo.token_encoding == "both"
    status, headers, body = cpo.call("GET", cpo.versions_url, token=cpo.token_a)
    assert status == 200 and not ID_HEADERS & set(headers)
    assert body["data"] == [{"version": "2.1.1", "url": f"{cpo.base_url}/ocpi/2.1.1"}]
    details = cpo.call("GET", body["data"][0]["url"], token=cpo.token_a)[2]["data"]
    # The shape of the official example: identifier and url only, one URL per module.
    example = json.loads((EXAMPLES / "version_details_example.json").read_text())
    assert all(set(e) == set(example["endpoints"][0]) for e in details["endpoints"])
    urls = {e["identifier"]: e["url"] for e in details["endpoints"]}
    assert urls["credentials"] == cpo.credentials_url == f"{cpo.base_url}/ocpi/2.1.1/credentials"
    assert (
        urls["locations"] == cpo.module_url("locations") == f"{cpo.base_url}/ocpi/2.1.1/locations"
    )
    # no chargingprofiles or hubclientinfo: 2.1.1 has neither
    assert sorted(urls) == sorted(MODULES_211)
    # Behind the URLs: a CPO's sender side and its tokens/commands receiver side.
    assert dict(cpo.modules_of("2.1.1"))["locations"] == "SENDER"
    assert dict(cpo.modules_of("2.1.1"))["tokens"] == "RECEIVER"
    with FakePlatform(roles=EMSP, version="2.1.1") as emsp:
        assert sorted(identifiers(emsp)) == sorted(urls)
        served = dict(emsp.modules_of("2.1.1"))
        assert served["locations"] == served["cdrs"] == "RECEIVER"
        assert served["tokens"] == served["commands"] == "SENDER"


def test_both_versions_offered() -> None:
    with FakePlatform(roles=CPO, version="2.1.1", versions=("2.1.1", "2.2.1")) as both:
        body = both.call("GET", both.versions_url, token=both.token_a)[2]
        assert [v["version"] for v in body["data"]] == ["2.1.1", "2.2.1"]
        assert set(identifiers(both, "2.1.1").values()) == {""}
        roles = identifiers(both, "2.2.1")
        assert roles["locations"] == "SENDER" and "hubclientinfo" in roles
        status, _, body = both.call("GET", f"{both.base_url}/ocpi/2.2.1/credentials", token="x")
        assert status == 401
        body = both.call("GET", f"{both.base_url}/ocpi/2.2.1/credentials", token=both.token_a)[2]
        assert body["data"]["roles"][0]["role"] == "CPO"  # each version's own object
        body = both.call("GET", both.credentials_url, token=both.token_a)[2]
        assert "roles" not in body["data"] and body["data"]["party_id"] == "CPA"


def test_one_party_only() -> None:
    with pytest.raises(ValueError, match="one party"):
        FakePlatform(roles=CPO + EMSP, version="2.1.1")


def flat_credentials(token: str, url: str) -> dict[str, Any]:
    return {
        "token": token,
        "url": url,
        "business_details": {"name": "Hub"},
        "party_id": "HUB",
        "country_code": "NL",
    }


def test_hub_registers_at_the_platform(cpo: FakePlatform, hub: FakePlatform) -> None:
    """The hub's side in plain HTTP calls: versions, details, POST, PUT and DELETE."""
    token_a = cpo.token_a
    details_url = cpo.call("GET", cpo.versions_url, token=token_a)[2]["data"][0]["url"]
    endpoints = cpo.call("GET", details_url, token=token_a)[2]["data"]["endpoints"]
    credentials_url = next(e["url"] for e in endpoints if e["identifier"] == "credentials")
    # A 2.2.1 object is not a 2.1.1 one.
    status, _, body = cpo.call(
        "POST", credentials_url, token=token_a, body=hub.own_credentials("x", "2.2.1")
    )
    assert (status, body["status_code"]) == (400, 2001)
    # The hub's token B is the in-test hub server's own token A, so the callback is accepted.
    sent = flat_credentials(hub.token_a, hub.versions_url)
    status, headers, body = cpo.call("POST", credentials_url, token=token_a, body=sent)
    assert (status, body["status_code"]) == (200, 1000), body
    assert not ID_HEADERS & set(headers)
    example = json.loads((EXAMPLES / "credentials_example.json").read_text())
    assert set(body["data"]) == set(example)
    assert body["data"] == {
        "token": cpo.issued_token,
        "url": cpo.versions_url,
        "business_details": {"name": "CPO A"},
        "party_id": "CPA",
        "country_code": "NL",
    }
    assert cpo.registered and cpo.peer_credentials == sent and cpo.peer_token == hub.token_a
    assert cpo.peer_encoding_seen == "raw"
    assert all("role" not in e for e in cpo.peer_endpoints)
    # The platform called back with token B as is, without 2.2.1's tracing headers.
    callbacks = hub.find_requests("GET")
    assert [r.path for r in callbacks] == ["/ocpi/versions", "/ocpi/2.1.1"]
    assert {r.authorization for r in callbacks} == {f"Token {hub.token_a}"}
    assert all(not ID_HEADERS & set(r.headers) for r in callbacks)

    # Token C works on modules, as is or in Base64; objects sit right below the module URL.
    token_c = str(cpo.issued_token)
    url = cpo.module_url("tokens") + "/DE/EMB/012345678"
    assert cpo.call("PUT", url, token=token_c, body={}, encoding="raw")[0] == 200
    assert cpo.call("GET", url, token=token_c, encoding="base64")[0] == 200
    assert cpo.peer_encoding_seen == "base64"
    assert cpo.requests[-1].path == "/ocpi/2.1.1/tokens/DE/EMB/012345678"
    assert cpo.call("GET", cpo.module_url("chargingprofiles"), token=token_c)[0] == 404
    assert cpo.call("GET", f"{cpo.base_url}/ocpi/2.2.1/tokens/receiver", token=token_c)[0] == 404

    # Rotation, then unregistering.
    status, _, body = cpo.call(
        "PUT", credentials_url, token=token_c, body=flat_credentials(hub.token_a, hub.versions_url)
    )
    assert (status, body["status_code"]) == (200, 1000)
    assert body["data"]["token"] == cpo.issued_token != token_c
    assert cpo.call("GET", cpo.versions_url, token=token_c)[0] == 401
    status, _, body = cpo.call("DELETE", credentials_url, token=str(cpo.issued_token))
    assert (status, body["status_code"]) == (200, 1000) and not cpo.registered


def test_platform_registers_at_the_hub(cpo: FakePlatform, hub: FakePlatform) -> None:
    status, envelope = cpo.register(hub.versions_url, hub.token_a)
    assert (status, envelope["status_code"]) == (200, 1000), envelope
    served = hub.find_requests()
    assert [(r.method, r.path) for r in served] == [
        ("GET", "/ocpi/versions"),
        ("GET", "/ocpi/2.1.1"),
        ("POST", "/ocpi/2.1.1/credentials"),
    ]
    assert {r.authorization for r in served} == {f"Token {hub.token_a}"}  # raw, not Base64
    assert all(not ID_HEADERS & set(r.headers) for r in served)
    assert served[-1].body == {
        "token": cpo.issued_token,
        "url": cpo.versions_url,
        "business_details": {"name": "CPO A"},
        "party_id": "CPA",
        "country_code": "NL",
    }
    assert cpo.peer_token == hub.issued_token and cpo.peer_credentials is not None
    assert cpo.peer_credentials["party_id"] == "HUB"
    assert hub.call("GET", cpo.versions_url)[0] == 200  # B works, raw

    status, envelope = cpo.update_credentials()
    assert (status, envelope["status_code"]) == (200, 1000)
    assert hub.find_requests("PUT")[-1].body["party_id"] == "CPA"
    status, envelope = cpo.unregister()
    assert (status, envelope["status_code"]) == (200, 1000)
    assert not cpo.registered and not hub.registered


def test_token_encodings_and_versions_mismatch(hub: FakePlatform) -> None:
    with (
        FakePlatform(roles=CPO, version="2.1.1", token_encoding="base64") as based,
        FakePlatform(roles=CPO, version="2.1.1", token_encoding="raw") as raw,
        FakePlatform(roles=EMSP, token_encoding="both") as modern,
    ):
        assert based.call("GET", based.versions_url, token=based.token_a, encoding="raw")[0] == 401
        # It sends Base64, which a 2.1.1 "both" hub takes; the hub calls back raw: refused (3001).
        status, envelope = based.register(hub.versions_url, hub.token_a)
        assert (status, envelope["status_code"]) == (400, 3001)
        assert hub.find_requests("GET")[0].authorization == f"Token {b64(hub.token_a)}"
        token_b = hub.find_requests("POST")[-1].body["token"]
        assert based.find_requests("GET")[-1].authorization == f"Token {token_b}"
        assert not based.registered and based.issued_token is None
        assert raw.call("GET", raw.versions_url, token=raw.token_a, encoding="base64")[0] == 401
        with pytest.raises(RegistrationError):
            raw.register(modern.versions_url, modern.token_a)  # no 2.1.1 there
