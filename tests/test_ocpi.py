"""Pure parts of the protocol layer: envelope, token header, credentials objects."""

from __future__ import annotations

import json
import re
from pathlib import Path

import msgspec
import pytest

from hub.errors import UnauthorizedError
from hub.forward import authorization
from hub.ocpi.credentials import Credentials
from hub.ocpi.envelope import envelope
from hub.web.ocpi import _token_candidates, version_details_of

EXAMPLES = Path(__file__).parent / "examples"


def test_envelope_leaves_out_data_when_there_is_none() -> None:
    body = json.loads(envelope(None, 2001, "bad field"))
    assert set(body) == {"status_code", "status_message", "timestamp"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["timestamp"])
    assert json.loads(envelope([]))["data"] == []


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # The spec's own erratum encodes a trailing newline; the right value is this one.
        ("Token ZXhhbXBsZS10b2tlbg==", [("example-token", True), ("ZXhhbXBsZS10b2tlbg==", False)]),
        ("token example-token", [("example-token", False)]),
        ("Token  example-token ", [("example-token", False)]),
        # Valid Base64 of bytes that are not a printable token: only the raw reading is tried.
        ("Token AAEC", [("AAEC", False)]),
    ],
)
def test_token_header_readings(header: str, expected: list[tuple[str, bool]]) -> None:
    assert _token_candidates(header) == expected


@pytest.mark.parametrize("header", ["Bearer x", "Token", "Token ", "Basic dXNlcg=="])
def test_token_header_refusals(header: str) -> None:
    with pytest.raises(UnauthorizedError):
        _token_candidates(header)


def test_outbound_authorization() -> None:
    assert authorization("example-token", base64_encoded=True) == "Token ZXhhbXBsZS10b2tlbg=="
    assert authorization("example-token", base64_encoded=False) == "Token example-token"


@pytest.mark.parametrize(
    "name",
    [
        "credentials_example.json",
        "credentials_example2.json",
        "credentials_example3.json",
        "credentials_example4.json",
    ],
)
def test_official_credentials_examples_decode(name: str) -> None:
    raw = (EXAMPLES / "2.2.1" / name).read_bytes()
    credentials = msgspec.json.decode(raw, type=Credentials)
    assert credentials.roles
    assert msgspec.json.decode(msgspec.json.encode(credentials)) == json.loads(raw)


def test_hub_version_details_use_the_public_url() -> None:
    details = version_details_of("https://hub.example.com/ocpi")
    urls = {e.url for e in details.endpoints}
    assert all(u.startswith("https://hub.example.com/ocpi/2.2.1/") for u in urls)
    assert len(urls) == len(details.endpoints)
