"""Self-test of tests/parties.py: FakePlatforms on loopback register with each other."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.parties import FakePlatform, RegistrationError, b64, free_port, unb64

CPO = [("NL", "CPA", "CPO")]
EMSP = [("DE", "EMB", "EMSP")]


@pytest.fixture
def cpo() -> Iterator[FakePlatform]:
    with FakePlatform(roles=CPO, name="CPO A") as platform:
        yield platform


@pytest.fixture
def emsp() -> Iterator[FakePlatform]:
    with FakePlatform(roles=EMSP, name="eMSP B") as platform:
        yield platform


def test_helpers() -> None:
    assert b64("example-token") == "ZXhhbXBsZS10b2tlbg=="  # not the errata's "...Zwo="
    assert unb64("ZXhhbXBsZS10b2tlbg==") == "example-token"
    assert unb64("ZXhhbXBsZS10b2tlbg") is None  # missing padding
    assert unb64("example-token") is None
    assert 0 < free_port() < 65536


def test_versions_details_and_envelope(cpo: FakePlatform) -> None:
    status, headers, body = cpo.call(
        "GET",
        cpo.versions_url,
        token=cpo.token_a,
        headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"},
    )
    assert status == 200
    assert headers["x-request-id"] == "req-1"
    assert headers["x-correlation-id"] == "corr-1"
    assert body["status_code"] == 1000
    assert body["timestamp"].endswith("Z")
    assert body["data"] == [{"version": "2.2.1", "url": f"{cpo.base_url}/ocpi/2.2.1"}]

    status, _, body = cpo.call("GET", body["data"][0]["url"], token=cpo.token_a)
    assert status == 200
    endpoints = {(e["identifier"], e["role"]): e["url"] for e in body["data"]["endpoints"]}
    assert endpoints[("credentials", "SENDER")] == cpo.credentials_url
    assert endpoints[("locations", "SENDER")] == f"{cpo.base_url}/ocpi/2.2.1/locations/sender"
    assert ("commands", "RECEIVER") in endpoints
    assert ("locations", "RECEIVER") not in endpoints


def test_default_modules_union_for_two_roles() -> None:
    both = FakePlatform(roles=CPO + EMSP)
    try:
        assert ("locations", "SENDER") in both.modules
        assert ("locations", "RECEIVER") in both.modules
        assert both.modules.count(("hubclientinfo", "RECEIVER")) == 1
    finally:
        both.stop()


def test_unauthorized_and_unknown_paths(cpo: FakePlatform) -> None:
    status, _, body = cpo.call("GET", cpo.versions_url, token="nope")
    assert (status, body["status_code"]) == (401, 2000)
    status, _, body = cpo.call("GET", cpo.versions_url)  # no Authorization header at all
    assert status == 401
    # token A is only for versions and credentials
    status, _, _ = cpo.call("GET", cpo.module_url("locations", "SENDER"), token=cpo.token_a)
    assert status == 401
    status, _, body = cpo.call("GET", f"{cpo.base_url}/elsewhere", token=cpo.token_a)
    assert (status, body["status_code"]) == (404, 2000)
    assert [r.path for r in cpo.requests][-1] == "/elsewhere"


def test_registration_handshake(cpo: FakePlatform, emsp: FakePlatform) -> None:
    token_a = emsp.token_a
    status, envelope = cpo.register(emsp.versions_url, token_a)
    assert status == 200, envelope
    assert envelope["status_code"] == 1000
    token_b, token_c = cpo.issued_token, emsp.issued_token
    assert token_b and token_c and len({token_a, token_b, token_c}) == 3
    assert envelope["data"]["token"] == token_c == cpo.peer_token
    assert envelope["data"]["url"] == emsp.versions_url == cpo.peer_versions_url
    assert envelope["data"]["roles"] == [
        {
            "role": "EMSP",
            "party_id": "EMB",
            "country_code": "DE",
            "business_details": {"name": "eMSP B"},
        }
    ]
    assert emsp.peer_token == token_b
    assert emsp.peer_versions_url == cpo.versions_url
    assert emsp.peer_credentials is not None and emsp.peer_credentials["roles"][0]["role"] == "CPO"
    assert cpo.registered and emsp.registered

    # The Sender used token A (Base64) for versions, details and the POST.
    served = emsp.find_requests()
    assert [(r.method, r.path) for r in served] == [
        ("GET", "/ocpi/versions"),
        ("GET", "/ocpi/2.2.1"),
        ("POST", "/ocpi/2.2.1/credentials"),
    ]
    assert {r.authorization for r in served} == {f"Token {b64(token_a)}"}
    assert served[-1].body["token"] == token_b
    assert emsp.peer_encoding_seen == "base64"
    # The Receiver called the Sender back with token B (Base64) before answering.
    callbacks = cpo.find_requests("GET")
    assert [r.path for r in callbacks] == ["/ocpi/versions", "/ocpi/2.2.1"]
    assert {r.authorization for r in callbacks} == {f"Token {b64(token_b)}"}
    assert cpo.peer_encoding_seen == "base64"

    # Token A is dead, C works (also on modules), B works the other way round.
    status, _, body = cpo.call("GET", emsp.versions_url, token=token_a)
    assert (status, body["status_code"]) == (401, 2000)
    assert cpo.call("GET", emsp.versions_url)[0] == 200
    assert cpo.call("GET", emsp.credentials_url)[2]["data"]["token"] == token_c
    status, _, body = cpo.call(
        "PUT", emsp.module_url("locations", "receiver") + "/NL/CPA/L1", body={}
    )
    assert (status, body["status_code"], body["data"]) == (200, 1000, None)
    assert emsp.requests[-1].body == {} and emsp.requests[-1].path.endswith("/NL/CPA/L1")
    assert emsp.call("GET", cpo.module_url("locations", "sender"))[0] == 200
    assert cpo.call("GET", cpo.versions_url, token=cpo.token_a)[0] == 401
    # Not in the Receiver's module list: 404.
    assert cpo.call("GET", emsp.module_url("locations", "sender"))[0] == 404

    # POST again while registered: 405.
    status, _, _ = cpo.call("POST", emsp.credentials_url, body=cpo.own_credentials(token_b))
    assert status == 405


def test_put_and_delete_need_registration(emsp: FakePlatform) -> None:
    body = emsp.own_credentials("x")
    assert emsp.call("PUT", emsp.credentials_url, token=emsp.token_a, body=body)[0] == 405
    assert emsp.call("DELETE", emsp.credentials_url, token=emsp.token_a)[0] == 405


def test_update_credentials_rotates(cpo: FakePlatform, emsp: FakePlatform) -> None:
    assert cpo.register(emsp.versions_url, emsp.token_a)[0] == 200
    old_b, old_c = cpo.issued_token, cpo.peer_token
    status, envelope = cpo.update_credentials()
    assert (status, envelope["status_code"]) == (200, 1000)
    new_b, new_c = cpo.issued_token, cpo.peer_token
    assert new_b not in (None, old_b) and new_c not in (None, old_c)
    assert emsp.issued_token == new_c and emsp.peer_token == new_b
    assert cpo.call("GET", emsp.versions_url, token=old_c)[0] == 401
    assert cpo.call("GET", emsp.versions_url)[0] == 200
    assert emsp.call("GET", cpo.versions_url, token=old_b)[0] == 401
    assert emsp.call("GET", cpo.versions_url)[0] == 200
    put = emsp.find_requests("PUT")[-1]
    assert old_c is not None
    assert put.authorization == f"Token {b64(old_c)}" and put.body["token"] == new_b


def test_unregister_both_directions(cpo: FakePlatform, emsp: FakePlatform) -> None:
    assert cpo.register(emsp.versions_url, emsp.token_a)[0] == 200
    status, envelope = cpo.unregister()
    assert (status, envelope["status_code"]) == (200, 1000)
    assert not cpo.registered and not emsp.registered
    assert cpo.call("GET", emsp.versions_url)[0] == 401  # C is dead
    assert emsp.call("GET", cpo.versions_url)[0] == 401  # B is dead
    assert emsp.call("GET", emsp.versions_url, token=emsp.token_a)[0] == 401  # A stays dead

    # A fresh token A allows a new registration; then the Receiver side unregisters.
    assert cpo.register(emsp.versions_url, emsp.reset_token_a())[0] == 200
    status, envelope = emsp.unregister()
    assert (status, envelope["status_code"]) == (200, 1000)
    assert not cpo.registered and not emsp.registered
    assert len(emsp.find_requests("DELETE", "/ocpi/2.2.1/credentials")) == 1  # the first one
    assert len(cpo.find_requests("DELETE", "/ocpi/2.2.1/credentials")) == 1


def test_token_encodings() -> None:
    with (
        FakePlatform(roles=CPO, token_encoding="raw") as raw,
        FakePlatform(roles=EMSP, token_encoding="base64") as based,
        FakePlatform(roles=EMSP, token_encoding="both") as both,
    ):
        url, token = raw.versions_url, raw.token_a
        assert raw.call("GET", url, token=token, encoding="base64")[0] == 401
        assert raw.peer_encoding_seen == "base64"
        assert raw.call("GET", url, token=token, encoding="raw")[0] == 200
        assert raw.peer_encoding_seen == "raw"
        url, token = based.versions_url, based.token_a
        assert based.call("GET", url, token=token, encoding="raw")[0] == 401
        assert based.call("GET", url, token=token, encoding="base64")[0] == 200
        url, token = both.versions_url, both.token_a
        assert both.call("GET", url, token=token, encoding="raw")[0] == 200
        assert both.call("GET", url, token=token, encoding="base64")[0] == 200

        # A raw platform sends raw tokens: rejected by a Base64-only peer; a "both" peer
        # accepts them but calls back in Base64, which the raw platform rejects (3001).
        status, envelope = raw.register(based.versions_url, based.token_a)
        assert (status, envelope["status_code"]) == (401, 2000)
        status, envelope = raw.register(both.versions_url, both.token_a)
        assert (status, envelope["status_code"]) == (400, 3001)
        assert both.peer_encoding_seen == "raw"
        callback = raw.find_requests("GET")[-1].authorization or ""
        assert unb64(callback.removeprefix("Token ")) is not None
        assert raw.issued_token is None and not raw.registered
        # Two raw platforms complete the handshake with raw headers only.
        with FakePlatform(roles=EMSP, token_encoding="raw") as raw2:
            status, envelope = raw.register(raw2.versions_url, raw2.token_a)
            assert status == 200, envelope
            assert {r.authorization for r in raw2.requests} == {f"Token {raw2.token_a}"}
            assert raw.requests[-1].authorization == f"Token {raw.issued_token}"
            assert raw.peer_encoding_seen == raw2.peer_encoding_seen == "raw"
            assert raw.call("GET", raw2.versions_url)[0] == 200


def test_versions_broken() -> None:
    with (
        FakePlatform(roles=CPO, versions_broken=True) as broken,
        FakePlatform(roles=EMSP) as emsp,
    ):
        status, _, body = emsp.call("GET", broken.versions_url, token=broken.token_a)
        assert (status, body["status_code"]) == (500, 3000)
        status, envelope = emsp.register(broken.versions_url, broken.token_a)
        assert status == 500 and envelope["status_code"] == 3000
        assert emsp.issued_token is None and not emsp.registered

        # The broken one registers at emsp: emsp's callback fails -> 3001, nothing changes.
        status, envelope = broken.register(emsp.versions_url, emsp.token_a)
        assert (status, envelope["status_code"]) == (400, 3001)
        assert not emsp.registered and emsp.peer_token is None
        assert not broken.registered and broken.issued_token is None
        assert emsp.call("GET", emsp.versions_url, token=emsp.token_a)[0] == 200


def test_no_common_version_and_missing_credentials() -> None:
    with (
        FakePlatform(roles=CPO, versions=["2.1.1"]) as old,
        FakePlatform(roles=EMSP, with_credentials_endpoint=False) as bare,
        FakePlatform(roles=EMSP) as emsp,
    ):
        with pytest.raises(RegistrationError):
            emsp.register(old.versions_url, old.token_a)
        with pytest.raises(RegistrationError):
            emsp.register(bare.versions_url, bare.token_a)
        status, envelope = old.register(emsp.versions_url, emsp.token_a)
        assert (status, envelope["status_code"]) == (400, 3002)
        details = emsp.call("GET", f"{old.base_url}/ocpi/2.1.1", token=old.token_a)[2]
        assert all("role" not in e for e in details["data"]["endpoints"])


def test_responder_hook(cpo: FakePlatform, emsp: FakePlatform) -> None:
    assert cpo.register(emsp.versions_url, emsp.token_a)[0] == 200
    emsp.responder = lambda rec: (
        (201, {"status_code": 1000, "seen": rec.path}) if "X" in rec.path else None
    )
    url = emsp.module_url("tokens", "sender")
    assert cpo.call("GET", url + "/X")[0:3:2] == (
        201,
        {"status_code": 1000, "seen": "/ocpi/2.2.1/tokens/sender/X"},
    )
    assert cpo.call("GET", url)[0] == 200
