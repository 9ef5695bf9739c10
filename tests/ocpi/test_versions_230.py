"""What the hub reads and publishes to a 2.3.0 platform, as pure rules: the 2.3.0 credentials
object (2.3.0 §7.3.1) against the official examples, the hub's version details, the versions it
offers, and the parties it lists as reachable in its credentials."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from hub.ocpi.credentials import BusinessDetails, Credentials230, CredentialsRole
from hub.ocpi.validation import InvalidInputError, decode
from hub.ocpi.versions import SPOKEN, V2_3_0
from hub.policy import Agreements, Policy, reachable_roles
from hub.records import Agreement, Party, Platform, versions_for
from hub.web.ocpi import version_details_of

EXAMPLES = Path(__file__).parent.parent / "examples" / "2.3.0"
HUB = ("NL", "HUB")


@pytest.mark.parametrize("name", [f"credentials_example{n}.json" for n in ("", "2", "3", "4")])
def test_the_official_credentials_examples_decode_and_encode_back(name: str) -> None:
    raw = (EXAMPLES / name).read_bytes()
    credentials = decode(raw, Credentials230)
    assert credentials.hub_party_id is None  # none of them is a hub
    encoded = msgspec.json.decode(msgspec.json.encode(credentials))
    assert encoded == {**json.loads(raw), "hub_party_id": None}


def test_hub_party_id_is_five_characters_and_roles_are_required() -> None:
    offer = json.loads((EXAMPLES / "credentials_example.json").read_bytes())
    assert decode(json.dumps({**offer, "hub_party_id": "NLHUB"}).encode(), Credentials230)
    for wrong in ("NLHU", "NLHUBX", 5):
        with pytest.raises(InvalidInputError, match=r"\$\.hub_party_id"):
            decode(json.dumps({**offer, "hub_party_id": wrong}).encode(), Credentials230)
    with pytest.raises(InvalidInputError, match=r"\$\.roles"):
        decode(json.dumps({**offer, "roles": []}).encode(), Credentials230)
    # Unknown fields pass (2.3.0 §4.1.8: a platform "SHALL NOT reject" them).
    assert decode(json.dumps({**offer, "x": 1}).encode(), Credentials230).roles


def test_2_3_0_is_spoken_first_and_offered_to_every_platform() -> None:
    assert SPOKEN[0] == V2_3_0
    for roles in ([("CPO",)], [("CPO",), ("EMSP",)], [("NSP",)]):
        found = platform("P", *[("NL", f"P{i}", r) for i, (r,) in enumerate(roles)])
        assert versions_for(found)[0] == "2.3.0"


def test_the_2_3_0_version_details_are_the_2_2_1_ones_under_2_3_0_and_payments() -> None:
    old = version_details_of("https://hub.example/ocpi")
    new = version_details_of("https://hub.example/ocpi", V2_3_0)
    assert new.version == "2.3.0"
    # 2.3.0 §16: Payments, both interfaces, after the 2.2.1 modules; 2.2.1 has none.
    payments = [("payments", "SENDER"), ("payments", "RECEIVER")]
    assert [(e.identifier, e.role) for e in new.endpoints] == [
        (e.identifier, e.role) for e in old.endpoints
    ] + payments
    assert "payments" not in {e.identifier for e in old.endpoints}
    assert [e.url for e in new.endpoints] == [
        e.url.replace("/ocpi/2.2.1/", "/ocpi/2.3.0/") for e in old.endpoints
    ] + [
        "https://hub.example/ocpi/2.3.0/sender/payments",
        "https://hub.example/ocpi/2.3.0/receiver/payments",
    ]


# --- the parties reachable through the hub ------------------------------------------------


def platform(
    platform_id: str,
    *roles: tuple[str, str, str],
    status: str = "CONNECTED",
    registered: bool = True,
    deleted: bool = False,
) -> Platform:
    return Platform(
        id=platform_id,
        name=platform_id,
        status=status,
        roles=[Party.of(*r) for r in roles],
        created_at="2025-01-01T00:00:00Z",
        updated_at="2025-01-01T00:00:00Z",
        version="2.2.1" if registered else None,
        registered_roles=[
            CredentialsRole(r[2], BusinessDetails(name=f"{r[1]} Ltd"), r[1], r[0]) for r in roles
        ]
        if registered
        else [],
        deleted=deleted,
    )


def listed(roles: list[CredentialsRole]) -> list[tuple[str, str, str]]:
    return [(r.country_code, r.party_id, r.role) for r in roles]


def test_every_registered_party_of_other_platforms_when_agreements_are_off() -> None:
    me = platform("me", ("NL", "EMA", "EMSP"))
    others = [
        me,
        platform("cpo", ("NL", "CPA", "CPO"), ("NL", "CPB", "CPO")),
        platform("both", ("DE", "XYZ", "CPO"), ("DE", "XYZ", "EMSP")),
        platform("offline", ("NL", "OFF", "CPO"), status="OFFLINE"),
        platform("planned", ("NL", "PLA", "CPO"), status="PLANNED", registered=False),
        platform("suspended", ("NL", "SUS", "CPO"), status="SUSPENDED"),
        platform("removed", ("NL", "REM", "CPO"), deleted=True),
        platform("hub", ("NL", "HUB", "OTHER")),  # the hub's own party: never listed
    ]
    found = reachable_roles(others, Policy(), me, HUB)
    assert listed(found) == [
        ("DE", "XYZ", "CPO"),
        ("NL", "CPA", "CPO"),
        ("NL", "CPB", "CPO"),
        ("NL", "OFF", "CPO"),
        ("DE", "XYZ", "EMSP"),
    ]
    # With the business details each registered.
    assert found[1].business_details == BusinessDetails(name="CPA Ltd")


def test_only_partners_under_agreements_required() -> None:
    me = platform("me", ("NL", "EMA", "EMSP"))
    cpos = platform("cpos", ("NL", "CPA", "CPO"), ("NL", "CPB", "CPO"))
    nsp = platform("nsp", ("NL", "NSP", "NSP"))
    agreement = Agreement(id="a", cpo=("NL", "CPA"), partner=("NL", "EMA"), modules=("cdrs",))
    policy = Policy("required", Agreements.of([agreement]))
    assert listed(reachable_roles([me, cpos, nsp], policy, me, HUB)) == [("NL", "CPA", "CPO")]
    assert listed(reachable_roles([me, cpos, nsp], policy, cpos, HUB)) == [("NL", "EMA", "EMSP")]
    assert reachable_roles([me, cpos, nsp], policy, nsp, HUB) == []
    assert listed(reachable_roles([me, cpos, nsp], Policy("required"), me, HUB)) == []


def test_a_role_listed_twice_is_listed_once() -> None:
    me = platform("me", ("NL", "EMA", "EMSP"))
    twice = platform("twice", ("NL", "CPA", "CPO"))
    twice.registered_roles = twice.registered_roles * 2
    assert listed(reachable_roles([me, twice], Policy(), me, HUB)) == [("NL", "CPA", "CPO")]
