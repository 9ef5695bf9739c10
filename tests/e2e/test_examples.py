"""Every official OCPI 2.2.1 example object that a platform pushes passes through the hub
unchanged: its exact bytes, from a platform registered with the example's own parties, reach
a platform of the other side on the path the hub should use.

Every file in ``tests/examples/2.2.1`` is either sent here (``KINDS``), refused here (the two
known-invalid examples, ``INVALID``), or listed as no pushed object (``NOT_PUSHED``); a new
file that is none of these fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.network import Member, member
from tests.hubproc import HubProcess

V = "/ocpi/2.2.1"
EXAMPLES = Path(__file__).parent.parent / "examples" / "2.2.1"
PartyKey = tuple[str, str]

# What each pushed file is (first match wins, re.fullmatch on the file name).
KINDS: list[tuple[str, str]] = [
    (r"location_put_example_add_evse\.json", "evse"),
    (r"location_patch_example_location\.json", "location_patch"),
    # {"status": ...}: a field of the EVSE (PATCH .../{location_id}/{evse_uid}).
    (r"location_patch_example_(remove_evse|status)\.json", "evse_patch"),
    # {"tariff_ids": [...]}: a field of the Connector (PATCH .../{evse_uid}/{connector_id}).
    (r"location_patch_example_tariff\.json", "connector_patch"),
    (r"location_example.*\.json", "location"),
    (r"session_patch_.*\.json", "session_patch"),
    (r"session_example.*\.json", "session"),
    (r"cdr_example.*\.json", "cdr"),
    (r"(tariff|tariffrestriction)_.*\.json", "tariff"),
    (r"token_patch_.*\.json", "token_patch"),
    (r"token_.*\.json", "token"),
]

# Files that are no module object a platform pushes.
NOT_PUSHED = [
    # Parts of a Location shown on their own (Hours, EnergyMix, regular hours).
    r"location_hours_.*\.json",
    r"location_(regularhours|energymix)_example.*\.json",
    # Configuration module objects and types, not routed through the hub.
    r"credentials_example.*\.json",
    r"version_details_example.*\.json",
    r"versions_info_example\.json",
    r"type_displaytext_example\.json",
    # Whole response envelopes (what a receiver answers), not requests.
    r"transport_and_format_.*\.json",
]

# The known-invalid originals (tests/examples/NOTICE.md) and the field the hub must name.
INVALID = {
    "location_put_example_add_evse.json": ("$.connectors[0]", "power_type"),
    "tariff_put_example.json": ("$", "last_updated"),
}

# A PATCH fragment has no ids: it is sent for the object of one whole example.
PATCHED = {
    "location_patch": "location_example.json",
    "evse_patch": "location_example.json",
    "connector_patch": "location_example.json",
    "session_patch": "session_example_1_simple_start.json",
    "token_patch": "token_example_2_full_rfid.json",
}
# The parent Location of an EVSE-level example.
EVSE_PARENT = "location_example.json"

MODULES = {
    "location": "locations",
    "evse": "locations",
    "location_patch": "locations",
    "evse_patch": "locations",
    "connector_patch": "locations",
    "session": "sessions",
    "session_patch": "sessions",
    "cdr": "cdrs",
    "tariff": "tariffs",
    "token": "tokens",
    "token_patch": "tokens",
}


def kind_of(name: str) -> str | None:
    return next((kind for pattern, kind in KINDS if re.fullmatch(pattern, name)), None)


def pushed(name: str) -> bool:
    return not any(re.fullmatch(pattern, name) for pattern in NOT_PUSHED)


def read(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_bytes())
    return body


def owner(body: dict[str, Any]) -> PartyKey:
    return (body["country_code"], body["party_id"])


@dataclass(frozen=True)
class Push:
    """How one example goes through the hub."""

    method: str
    module: str
    path: str  # below .../receiver/{module}, without a leading slash ("" for a CDR)
    query: str
    sender: PartyKey
    emsp: PartyKey | None  # the eMSP the object names (cdr_token), if any

    @property
    def sender_role(self) -> str:
        return "EMSP" if self.module == "tokens" else "CPO"


def plan(name: str) -> Push:
    """The call that sends the example ``name``; KeyError for a file of no known kind."""
    kind = kind_of(name)
    if kind is None:
        raise KeyError(name)
    module = MODULES[kind]
    body = read(PATCHED.get(kind, name))
    query, emsp = "", None
    if kind == "evse":
        parent = read(EVSE_PARENT)
        ids = [parent["id"], read(name)["uid"]]
        body = parent
    elif kind in ("location", "location_patch", "session", "session_patch", "tariff"):
        ids = [body["id"]]
    elif kind == "evse_patch":
        ids = [body["id"], body["evses"][0]["uid"]]
    elif kind == "connector_patch":
        evse = body["evses"][0]
        ids = [body["id"], evse["uid"], evse["connectors"][0]["id"]]
    elif kind in ("token", "token_patch"):
        ids, query = [body["uid"]], f"type={body['type']}"
    else:  # a CDR is POSTed to the module's URL
        ids = []
    if "cdr_token" in body:
        emsp = owner(body["cdr_token"])
    method = {"cdr": "POST", "token": "PUT"}.get(kind, "PATCH" if "patch" in kind else "PUT")
    path = "/".join([*owner(body), *ids]) if ids else ""
    return Push(method, module, path, query, owner(body), emsp)


ALL_FILES = sorted(p.name for p in EXAMPLES.glob("*.json"))


def cases() -> Iterator[Any]:
    for name in ALL_FILES:
        if not pushed(name):
            continue
        # Sessions and CDRs go both with OCPI-to and without it (open routing by cdr_token).
        modes = ["directed", "open"] if kind_of(name) in ("session", "cdr") else ["directed"]
        for mode in modes:
            yield pytest.param(name, mode, id=f"{name}-{mode}")


# --- the network of the examples' parties ------------------------------------------------


@dataclass
class Examples:
    members: dict[PartyKey, Member]
    cpos: list[PartyKey]
    emsps: list[PartyKey]

    def receiver_of(self, push: Push) -> PartyKey:
        """The other side: the eMSP of a session or CDR, else the first party of that side."""
        if push.emsp is not None:
            return push.emsp
        return self.cpos[0] if push.sender_role == "EMSP" else self.emsps[0]

    def all_requests(self) -> int:
        return sum(len(m.received()) for m in self.members.values())


def example_parties() -> dict[PartyKey, str]:
    """Each party the examples name, with its role (derived from the files)."""
    roles: dict[PartyKey, str] = {}
    for name in ALL_FILES:
        if not pushed(name) or kind_of(name) is None:
            continue
        push = plan(name)
        roles[push.sender] = push.sender_role
        if push.emsp is not None:
            roles[push.emsp] = "EMSP"
    return roles


@pytest.fixture(scope="module")
def examples(hub: HubProcess) -> Iterator[Examples]:
    """One platform for each party of the examples, registered once (no other test uses
    these party ids)."""
    roles = example_parties()
    with ExitStack() as stack:
        members = {
            party: stack.enter_context(member(hub, (*party, role)))
            for party, role in sorted(roles.items())
        }
        yield Examples(
            members=members,
            cpos=sorted(p for p, r in roles.items() if r == "CPO"),
            emsps=sorted(p for p, r in roles.items() if r == "EMSP"),
        )


# --- the test ------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "mode"), list(cases()))
def test_an_official_example_passes_through_unchanged(
    examples: Examples, name: str, mode: str
) -> None:
    try:
        push = plan(name)
    except KeyError:
        pytest.fail(f"the test does not know how to send the example {name}: add it to KINDS")
    raw = (EXAMPLES / name).read_bytes()
    to = examples.receiver_of(push)
    sender, receiver = examples.members[push.sender], examples.members[to]
    path = "/".join(p for p in (f"{V}/receiver/{push.module}", push.path) if p)
    if push.query:
        path = f"{path}?{push.query}"
    arrives = "/".join(p for p in (f"{V}/{push.module}/receiver", push.path) if p)
    before = examples.all_requests()

    status, _, answer = sender.call(
        push.method, path, raw=raw, frm=push.sender, to=None if mode == "open" else to
    )

    if name in INVALID:
        where, field = INVALID[name]
        assert (status, answer["status_code"]) == (400, 2001), answer
        assert f"`{field}`" in answer["status_message"], answer
        assert f"`{where}`" in answer["status_message"], answer
        assert examples.all_requests() == before
        return
    assert (status, answer["status_code"]) == (200, 1000), answer
    got = [r for r in receiver.received(push.method, arrives) if r.path == arrives]
    assert got, f"{to} got no {push.method} {arrives}"
    assert got[-1].raw_body == raw
    assert got[-1].query == push.query
    assert (got[-1].headers["ocpi-from-country-code"], got[-1].headers["ocpi-from-party-id"]) == (
        push.sender
    )
    assert (got[-1].headers["ocpi-to-country-code"], got[-1].headers["ocpi-to-party-id"]) == to
    # The one call reached the receiver only.
    assert examples.all_requests() == before + 1


def test_every_example_file_is_accounted_for() -> None:
    """Each rule matches a file, and each file is sent, refused, or listed as not pushed."""
    for pattern, _ in KINDS:
        assert any(re.fullmatch(pattern, n) for n in ALL_FILES), f"unused rule {pattern}"
    for pattern in NOT_PUSHED:
        assert any(re.fullmatch(pattern, n) for n in ALL_FILES), f"unused rule {pattern}"
    assert set(INVALID) <= set(ALL_FILES)
    assert all(pushed(n) for n in INVALID)
    for name in ALL_FILES:
        if pushed(name):
            assert kind_of(name) is not None, f"no way to send {name}"
