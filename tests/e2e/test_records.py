"""Platform records end to end: what the operator changes while a credentials handshake is in
flight stays changed, and data in Redis that the hub cannot use does not break it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from hub.store import keys
from tests import client
from tests.hubproc import HubProcess
from tests.parties import FakePlatform, b64

NewParty = Callable[[], str]
SLOW = 2.0  # seconds the platform takes for each call of the handshake while the admin acts


def in_background(work: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(work()), daemon=True)
    thread.start()
    return thread, result


def wait_for_call(fake: FakePlatform, path: str) -> None:
    """Until the hub's handshake has reached the platform (it answers slowly from then on)."""
    deadline = time.monotonic() + 20
    while not fake.find_requests("GET", path):
        assert time.monotonic() < deadline, f"the hub never called {path}"
        time.sleep(0.01)


def versions(hub: HubProcess, token: str) -> int:
    headers = {"Authorization": f"Token {b64(token)}"}
    return client.request("GET", hub.versions_url, headers=headers)[0]


def test_a_suspend_and_a_rename_during_a_handshake_stay(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    role = ("NL", party_id(), "CPO")
    created = hub.add_platform("Old name", role)
    cpo = platforms(role)
    cpo.delay = SLOW
    registering, answer = in_background(lambda: cpo.register(hub.versions_url, created["token_a"]))
    wait_for_call(cpo, "/ocpi/versions")

    assert hub.admin("POST", f"/platforms/{created['id']}/suspend")[0] == 200
    assert hub.admin("PATCH", f"/platforms/{created['id']}", {"name": "New name"})[0] == 200
    assert registering.is_alive(), "the handshake ended before the admin acted: no overlap"
    cpo.delay = 0
    registering.join(30)

    status, body = answer[0]
    assert status == 200, body
    stored = hub.platform(created["id"])
    assert (stored["status"], stored["name"]) == ("SUSPENDED", "New name")
    assert stored["version"] == "2.2.1"
    assert {e["identifier"] for e in stored["endpoints"]} >= {"credentials", "locations"}
    assert versions(hub, cpo.peer_token or "") == 401  # suspended

    resumed = hub.admin("POST", f"/platforms/{created['id']}/resume")[2]
    assert (resumed["status"], resumed["name"]) == ("CONNECTED", "New name")
    assert versions(hub, cpo.peer_token or "") == 200


def test_a_platform_removed_during_a_handshake_stays_removed(
    hub: HubProcess, party_id: NewParty, platforms: Any
) -> None:
    role = ("NL", party_id(), "CPO")
    created = hub.add_platform("Removed", role)
    cpo = platforms(role)
    cpo.delay = SLOW
    registering, answer = in_background(lambda: cpo.register(hub.versions_url, created["token_a"]))
    wait_for_call(cpo, "/ocpi/versions")

    assert hub.admin("DELETE", f"/platforms/{created['id']}")[0] == 204
    assert registering.is_alive(), "the handshake ended before the removal: no overlap"
    cpo.delay = 0
    registering.join(30)

    status, body = answer[0]
    assert (status, body["status_code"]) == (401, 2000), body
    assert "removed" in body["status_message"]
    stored = hub.platform(created["id"])
    assert (stored["status"], stored["deleted"], stored["version"]) == ("SUSPENDED", True, None)
    # No token of the platform is left: token A died with the removal, and the token C the
    # handshake issued died with the handshake.
    with redis.Redis(unix_socket_path=str(hub.data_dir / "redis.sock")) as r:
        owners = [v.decode().split(" ")[0] for v in r.hvals(keys.token_index())]
        assert created["id"] not in owners
        assert r.hlen(keys.inbound_tokens(created["id"])) == 0
        assert r.get(keys.outbound_token(created["id"])) is None


def test_unusable_data_in_redis_breaks_nothing(
    hub_factory: Callable[..., HubProcess], tmp_path: Path
) -> None:
    hub = hub_factory(tmp_path / "data").start()
    created = hub.add_platform("CPO", ("NL", "CPA", "CPO"))
    with FakePlatform(roles=[("NL", "CPA", "CPO")]) as cpo:
        assert cpo.register(hub.versions_url, created["token_a"])[0] == 200
        token = cpo.peer_token or ""
        # A role granted with a party id "A:B" (which the admin API let through once), one
        # granted to a platform that does not exist, and a token index entry that is garbage.
        with redis.Redis(unix_socket_path=str(tmp_path / "data" / "redis.sock")) as r:
            r.hset(keys.party_index(), "NL:A:B:EMSP", created["id"])
            r.hset(keys.party_index(), "NL:GHO:EMSP", "ghost")
            r.hset(keys.token_index(), "00" * 32, "garbage")
            r.publish(keys.changes(), b"changed")

        def works() -> None:
            # Until this process has read the bad entries (the change notification is heard
            # asynchronously), every call must work.
            deadline = time.monotonic() + 20
            while hub.log().count(warning) < starts:
                assert versions(hub, token) == 200
                assert time.monotonic() < deadline, "the hub never read the bad entries"
                time.sleep(0.05)
            assert versions(hub, token) == 200
            status, _, body = cpo.call(
                "GET",
                f"{hub.url}/ocpi/2.2.1/receiver/locations/NL/CPA/L1",
                headers={"OCPI-to-country-code": "NL", "OCPI-to-party-id": "GHO"},
            )
            assert (status, body["status_code"]) == (404, 4001), body
            assert hub.admin("GET", "/platforms")[0] == 200

        warning, starts = "ignoring granted role 'NL:A:B:EMSP", 1
        works()
        hub.stop()
        hub.start()
        starts = 2
        works()
    assert hub.log().count(warning) == 2  # once per process, not once per request
