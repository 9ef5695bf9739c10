"""What the hub's operator does to platforms (README: "Admin API"), against the hub of this
process: suspend and resume whatever the state, change one setting at a time, force a token
encoding that the hub then uses, and the refusals. Creating and removing platforms are in
``tests/e2e/test_admin.py`` and ``tests/e2e/test_registration.py``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from tests.inprocess import InProcessHub
from tests.parties import FakePlatform, b64
from tests.test_registration import opens

NewParty = Callable[[], str]


@contextmanager
def registered(
    hub: InProcessHub, party_id: NewParty, **fake: Any
) -> Iterator[tuple[str, FakePlatform]]:
    """A platform that registered itself with the hub: its id, and the platform."""
    pid = party_id()
    created = hub.add_platform("CPO", ("NL", pid, "CPO"))
    with FakePlatform(roles=[("NL", pid, "CPO")], **fake) as cpo:
        status, answer = cpo.register(hub.versions_url, created["token_a"])
        assert status == 200, answer
        yield created["id"], cpo


def act(hub: InProcessHub, platform_id: str, action: str) -> dict[str, Any]:
    status, _, platform = hub.admin("POST", f"/platforms/{platform_id}/{action}")
    assert status == 200, platform
    return dict(platform)


def test_suspending_twice_and_resuming_twice(hub: InProcessHub, party_id: NewParty) -> None:
    with registered(hub, party_id) as (platform_id, cpo):
        token = cpo.peer_token or ""
        assert act(hub, platform_id, "suspend")["status"] == "SUSPENDED"
        # A second suspend changes nothing: resuming still knows what the platform was.
        suspended = act(hub, platform_id, "suspend")
        assert suspended["status"] == "SUSPENDED"
        assert not opens(hub, token)

        resumed = act(hub, platform_id, "resume")
        assert resumed["status"] == "CONNECTED"
        assert opens(hub, token)
        # Resuming a platform that is not suspended changes nothing, not even updated_at.
        again = act(hub, platform_id, "resume")
        assert (again["status"], again["updated_at"]) == ("CONNECTED", resumed["updated_at"])


def test_a_planned_platform_suspended_and_resumed_is_planned(
    hub: InProcessHub, party_id: NewParty
) -> None:
    created = hub.add_platform("CPO", ("NL", party_id(), "CPO"))
    assert act(hub, created["id"], "suspend")["status"] == "SUSPENDED"
    assert act(hub, created["id"], "resume")["status"] == "PLANNED"
    assert opens(hub, created["token_a"])


def test_token_a_is_only_for_a_platform_that_is_not_registered(
    hub: InProcessHub, party_id: NewParty
) -> None:
    with registered(hub, party_id) as (platform_id, cpo):
        status, _, error = hub.admin("POST", f"/platforms/{platform_id}/token-a")

        assert status == 409, error
        assert "token A is only for registering" in error["error"]
        assert opens(hub, cpo.peer_token or "")


def test_a_change_of_one_setting_keeps_the_others(hub: InProcessHub, party_id: NewParty) -> None:
    created = hub.add_platform("Before", ("NL", party_id(), "CPO"), token_encoding="raw")
    path = f"/platforms/{created['id']}"

    status, _, renamed = hub.admin("PATCH", path, {"name": "After"})
    assert status == 200, renamed
    assert (renamed["name"], renamed["token_encoding"]) == ("After", "raw")
    status, _, recoded = hub.admin("PATCH", path, {"token_encoding": "auto"})
    assert status == 200, recoded
    assert (recoded["name"], recoded["token_encoding"]) == ("After", "auto")

    status, _, error = hub.admin("PATCH", "/platforms/0123456789ab", {"name": "Nobody"})
    assert status == 404, error


def test_the_token_encoding_the_operator_sets_is_used_from_the_next_call(
    hub: InProcessHub, party_id: NewParty
) -> None:
    """The hub calls a platform with its token as the handshake detected it (Base64 here), or
    as the operator forces it (2.2.1 wants Base64; many 2.1.1 platforms want the raw token)."""
    with registered(hub, party_id, token_encoding="both") as (platform_id, cpo):
        path = f"/platforms/{platform_id}"
        encodings: list[tuple[str, Callable[[str], str]]] = [
            ("raw", str),
            ("base64", b64),
            ("auto", b64),
        ]
        for encoding, encoded in encodings:
            status, _, platform = hub.admin("PATCH", path, {"token_encoding": encoding})
            assert status == 200, platform
            token = cpo.issued_token or ""  # what the hub calls the platform with
            act(hub, platform_id, "rotate")
            put = cpo.find_requests("PUT", "/ocpi/2.2.1/credentials")[-1]
            assert put.authorization == f"Token {encoded(token)}", encoding
