"""What the hub reads and publishes to a 2.1.1 platform, as pure rules: the flat credentials
object, the interface behind each roleless endpoint, which platforms may use 2.1.1, and the
hub's version details per role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from hub.ocpi.v211.credentials import Credentials
from hub.ocpi.validation import InvalidInputError, decode
from hub.ocpi.versions import (
    MODULES_211,
    PUBLISHED_211,
    REQUIRED_211,
    SPOKEN,
    Endpoint,
    endpoints_211,
    find_endpoint,
)
from hub.records import Party, Platform, party_211, versions_for
from hub.web.admin_types import PinnedVersion
from hub.web.ocpi import version_details_211

EXAMPLES = Path(__file__).parent.parent / "examples" / "2.1.1"


def test_the_official_credentials_example_decodes_and_encodes_back() -> None:
    raw = (EXAMPLES / "credentials_example.json").read_bytes()
    credentials = decode(raw, Credentials)
    assert (credentials.country_code, credentials.party_id) == ("NL", "EXA")
    assert credentials.business_details.name == "Example Operator"
    assert msgspec.json.decode(msgspec.json.encode(credentials)) == json.loads(raw)


def test_unknown_fields_pass_and_a_bad_party_is_named() -> None:
    offer = json.loads((EXAMPLES / "credentials_example.json").read_bytes())
    # A 2.2.1 platform's habit: harmless in a 2.1.1 object, and not read.
    offer["roles"] = [{"role": "CPO"}]
    assert decode(json.dumps(offer).encode(), Credentials).party_id == "EXA"
    for field, value in [("party_id", "TOOLONG"), ("country_code", 5)]:
        with pytest.raises(InvalidInputError, match=rf"\$\.{field}"):
            decode(json.dumps({**offer, field: value}).encode(), Credentials)
    del offer["business_details"]
    with pytest.raises(InvalidInputError, match="business_details"):
        decode(json.dumps(offer).encode(), Credentials)


def roleless(*identifiers: str) -> list[Endpoint]:
    return [Endpoint(i, f"https://p.example/ocpi/2.1.1/{i}/") for i in identifiers]


def test_each_roleless_endpoint_gets_the_interface_of_its_publisher() -> None:
    published = roleless("credentials", *MODULES_211, "hubclientinfo", "chargingprofiles")
    cpo = {e.identifier: e.role for e in endpoints_211(published, "CPO")}
    emsp = {e.identifier: e.role for e in endpoints_211(published, "EMSP")}
    # 2.1.1 knows neither hubclientinfo nor chargingprofiles: the hub would call them in 2.2.1.
    assert set(cpo) == set(emsp) == {"credentials", *MODULES_211}
    assert cpo["credentials"] is emsp["credentials"] is None
    assert [cpo[m] for m in ("locations", "sessions", "cdrs", "tariffs")] == ["SENDER"] * 4
    assert [cpo[m] for m in ("tokens", "commands")] == ["RECEIVER"] * 2
    assert [emsp[m] for m in ("locations", "sessions", "cdrs", "tariffs")] == ["RECEIVER"] * 4
    assert [emsp[m] for m in ("tokens", "commands")] == ["SENDER"] * 2
    # Routing finds them as it finds a 2.2.1 platform's, and not on the wrong interface.
    stored = endpoints_211(published, "EMSP")
    url = "https://p.example/ocpi/2.1.1/{}/".format
    assert find_endpoint(stored, "locations", "RECEIVER") == url("locations")
    assert find_endpoint(stored, "locations", "SENDER") is None
    assert find_endpoint(stored, "credentials", None) == url("credentials")


def test_what_a_platform_of_each_role_must_publish() -> None:
    assert REQUIRED_211 == {"CPO": ("locations",), "EMSP": ("tokens", "cdrs")}
    assert set(REQUIRED_211) == set(PUBLISHED_211)


def platform(*roles: tuple[str, str, str]) -> Platform:
    parties = [Party(*r) for r in roles]
    return Platform(
        id="0123456789ab", name="P", status="PLANNED", roles=parties, created_at="", updated_at=""
    )


@pytest.mark.parametrize(
    ("roles", "party"),
    [
        ([("NL", "CPA", "CPO")], Party("NL", "CPA", "CPO")),
        ([("NL", "EMA", "EMSP")], Party("NL", "EMA", "EMSP")),
        ([("NL", "CPA", "CPO"), ("NL", "EMA", "EMSP")], None),
        ([("NL", "NSP", "NSP")], None),
        ([("NL", "OTH", "OTHER")], None),
    ],
)
def test_only_a_platform_of_one_cpo_or_emsp_role_uses_2_1_1(
    roles: list[tuple[str, str, str]], party: Party | None
) -> None:
    found = platform(*roles)
    assert party_211(found) == party
    assert versions_for(found) == (["2.3.0", "2.2.1", "2.1.1"] if party else ["2.3.0", "2.2.1"])


def test_the_pin_takes_every_version_the_hub_speaks() -> None:
    assert set(get_args(PinnedVersion)) == set(SPOKEN)


def test_the_hubs_version_details_per_role() -> None:
    """One URL per module for either role: a CPO calls the hub's eMSP interfaces and an eMSP
    its CPO interfaces there (2.1.1 has one URL per identifier; the caller's role tells which
    interface a call is for), so both documents hold the same URLs."""
    documents = [version_details_211("https://hub.example.com/ocpi", r) for r in ("CPO", "EMSP")]
    assert documents[0] == documents[1]
    details = documents[0]
    assert details.version == "2.1.1"
    listed = msgspec.to_builtins(details)["endpoints"]
    assert all(set(e) == {"identifier", "url"} for e in listed)  # no role in 2.1.1
    urls = {e["identifier"]: e["url"] for e in listed}
    assert set(urls) == {"credentials", *MODULES_211}
    assert all(u == f"https://hub.example.com/ocpi/2.1.1/{i}" for i, u in urls.items())
