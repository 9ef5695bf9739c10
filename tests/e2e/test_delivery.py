"""The delivery engine's failure paths, end to end: OFFLINE probing with backoff, endpoints
without a role, queue entries that cannot be decoded."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis as redis_client

from hub.store import keys
from hub.store.embedded import EmbeddedRedis
from tests.e2e.network import member
from tests.e2e.objects import location
from tests.hubproc import HubProcess
from tests.test_cli import run_cli
from tests.waiting import wait_for

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
BASE, CEILING, OFFLINE_AFTER = 0.1, 3.2, 2
BACKOFF = ["--retry-base", str(BASE), "--retry-max", str(CEILING)]
BACKOFF += ["--offline-after", str(OFFLINE_AFTER)]


def shortest_pause(failures: int) -> float:
    """The least the hub waits after the ``failures``-th failure in a row: half of the
    exponential delay (README: exponential, with jitter, from --retry-base to --retry-max)."""
    return float(min(CEILING, BASE * 2 ** (failures - 1)) / 2)


def most_attempts(window: float) -> int:
    """At most this many attempts fit in ``window`` seconds, however the jitter falls."""
    attempts, spent = 1, 0.0
    while spent + shortest_pause(attempts) <= window:
        spent += shortest_pause(attempts)
        attempts += 1
    return attempts


def put_location(cpo: Any, location_id: str) -> None:
    body = location(("NL", "CPO"), location_id)
    status, _, answer = cpo.call(
        "PUT", f"{V}/receiver/locations/NL/CPO/{location_id}", body=body, to=HUB
    )
    assert (status, answer["status_code"]) == (200, 1000), answer


def test_an_offline_platform_is_probed_with_backoff_and_gets_what_waited(
    hub_factory: Callable[..., HubProcess],
) -> None:
    hub = hub_factory(args=BACKOFF).start()
    with member(hub, ("NL", "CPO", "CPO")) as cpo, member(hub, ("NL", "EMP", "EMSP")) as emsp:
        emsp.fake.down = True
        put_location(cpo, "LOC-P")
        wait_for(lambda: hub.platform(emsp.id)["status"] == "OFFLINE", "OFFLINE")
        window = 6.0
        time.sleep(window)

        # Only probes of its versions reach it while it is OFFLINE: one clock for the platform,
        # each pause at least half the exponential delay after that many failures in a row.
        probes = [r.at for r in emsp.fake.refused if r.path == "/ocpi/versions"]
        assert probes, "an OFFLINE platform is probed"
        assert len(probes) <= most_attempts(window + 1.0), probes
        for j, (earlier, later) in enumerate(itertools.pairwise(probes), start=1):
            assert later - earlier >= shortest_pause(OFFLINE_AFTER + j) - 0.1, (j, probes)

        emsp.fake.down = False
        wait_for(lambda: hub.platform(emsp.id)["status"] == "CONNECTED", "CONNECTED again")
        wait_for(
            lambda: emsp.received("PUT", f"{V}/locations/receiver/NL/CPO/LOC-P"),
            "the location that waited",
        )


def test_an_offline_platform_with_nothing_queued_comes_back(
    hub_factory: Callable[..., HubProcess],
) -> None:
    # A TTL longer than the pause before the first call to a platform that just registered.
    hub = hub_factory(args=[*BACKOFF, "--message-ttl", "3"]).start()
    with member(hub, ("NL", "CPO", "CPO")) as cpo, member(hub, ("NL", "EMQ", "EMSP")) as emsp:
        emsp.fake.down = True
        put_location(cpo, "LOC-Q")
        wait_for(lambda: hub.platform(emsp.id)["status"] == "OFFLINE", "OFFLINE")
        # The location (and the HubClientInfo pushes the eMSP got when it connected) expire:
        # nothing waits for the platform any more.
        wait_for(lambda: hub.admin("GET", f"/dead-letters?platform={emsp.id}")[2], "parking")
        wait_for(lambda: hub.admin("GET", "/queues")[2][-1]["depth"] == 0, "an empty queue")
        emsp.fake.down = False
        wait_for(lambda: hub.platform(emsp.id)["status"] == "CONNECTED", "CONNECTED again")


def test_hubclientinfo_reaches_an_endpoint_without_a_role(
    hub: HubProcess, party_id: Callable[[], str]
) -> None:
    listening, other = party_id(), party_id()
    with member(hub, ("NL", listening, "EMSP"), without_role=("hubclientinfo",)) as listener:
        assert {
            "identifier": "hubclientinfo",
            "url": listener.fake.module_url("hubclientinfo", "RECEIVER"),
        } in listener.fake.endpoints()
        with member(hub, ("NL", other, "CPO")):
            path = f"{V}/hubclientinfo/receiver/NL/{other}"
            wait_for(
                lambda: (
                    "CONNECTED"
                    in [r.body["status"] for r in listener.fake.find_requests("PUT", path)]
                ),
                "the HubClientInfo push",
            )
        assert hub.admin("GET", f"/dead-letters?platform={listener.id}")[2] == []


def test_an_undecodable_entry_is_listed_and_never_redriven(
    hub_factory: Callable[..., HubProcess], tmp_path: Path
) -> None:
    with EmbeddedRedis(tmp_path / "shared") as redis:
        hub = hub_factory(args=[*BACKOFF, "--redis-url", redis.url]).start()
        raw = redis_client.Redis.from_url(redis.url)
        try:
            with (
                member(hub, ("NL", "CPO", "CPO")) as cpo,
                member(hub, ("NL", "EMU", "EMSP")) as emsp,
            ):
                raw.xadd(keys.queue(emsp.id), {"m": b"\x00not a message"})
                put_location(cpo, "LOC-U")
                # Delivery goes on behind it.
                wait_for(
                    lambda: emsp.received("PUT", f"{V}/locations/receiver/NL/CPO/LOC-U"),
                    "the location behind the bad entry",
                )
                status, _, letters = hub.admin("GET", f"/dead-letters?platform={emsp.id}")
                assert status == 200
                (letter,) = letters
                assert letter["raw"] == "\x00not a message"
                assert letter["reason"].startswith("undecodable queue entry: ")
                assert "message" not in letter and letter["attempts"] == 0

                listed = run_cli("dead-letters", "--platform", emsp.id, hub=hub)
                assert listed.returncode == 0, listed.stderr
                assert letter["id"] in listed.stdout and "undecodable" in listed.stdout

                named = {"platform": emsp.id, "ids": [letter["id"]]}
                status, _, answer = hub.admin("POST", "/dead-letters/redrive", named)
                assert status == 409 and "can never be delivered" in answer["error"], answer
                status, _, answer = hub.admin("POST", "/dead-letters/redrive", {})
                assert (status, answer) == (200, {"redriven": 0, "skipped": 1})
                assert len(hub.admin("GET", f"/dead-letters?platform={emsp.id}")[2]) == 1
        finally:
            raw.close()
