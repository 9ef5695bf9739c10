"""Broadcast push, queued delivery, hub-held data with GET-all, platform health, HubClientInfo."""

from __future__ import annotations

import re
import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from hub.store.embedded import EmbeddedRedis
from tests.e2e.network import Hub, Member, member
from tests.e2e.objects import location, token
from tests.hubproc import HubProcess
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.waiting import wait_for

V = "/ocpi/2.2.1"
HUB = ("NL", "HUB")
FAST = ["--retry-base", "0.05", "--retry-max", "0.3", "--offline-after", "3"]


def evse(uid: str, status: str, updated: str) -> dict[str, Any]:
    return {
        "uid": uid,
        "status": status,
        "connectors": [
            {
                "id": "1",
                "standard": "IEC_62196_T2",
                "format": "SOCKET",
                "power_type": "AC_3_PHASE",
                "max_voltage": 230,
                "max_amperage": 16,
                "last_updated": updated,
            }
        ],
        "last_updated": updated,
    }


def all_received(at: Member, path: str, count: int) -> list[Any] | None:
    """What ``at`` received on ``path``, once that is ``count`` requests."""
    found = at.received(path=path)
    return found if len(found) == count else None


def ok(result: tuple[int, dict[str, str], Any]) -> tuple[dict[str, str], Any]:
    status, headers, answer = result
    assert (status, answer["status_code"]) == (200, 1000), answer
    return headers, answer


@pytest.fixture
def fast_hub(tmp_path: Path) -> Iterator[InProcessHub]:
    """A hub of the test's own (the tests name fixed parties), in this process."""
    with own_hub(tmp_path / "data", retry_base=0.05, retry_max=0.3, offline_after=3) as hub:
        yield hub


def test_a_location_and_its_evse_patches_reach_every_emsp_in_order(fast_hub: InProcessHub) -> None:
    with ExitStack() as stack:
        cpo = stack.enter_context(member(fast_hub, ("NL", "CPO", "CPO")))
        emsps = [stack.enter_context(member(fast_hub, ("NL", f"EM{i}", "EMSP"))) for i in range(3)]
        loc = {
            **location(("NL", "CPO"), "LOC-B"),
            "evses": [evse("E1", "AVAILABLE", "2026-11-24T10:00:00Z")],
        }

        headers, _ = ok(cpo.call("PUT", f"{V}/receiver/locations/NL/CPO/LOC-B", body=loc, to=HUB))
        assert (headers["ocpi-from-country-code"], headers["ocpi-from-party-id"]) == HUB
        patches = [
            {"status": status, "last_updated": f"2026-11-24T10:0{i + 1}:00Z"}
            for i, status in enumerate(["CHARGING", "AVAILABLE", "OUTOFORDER"])
        ]
        for patch in patches:
            ok(cpo.call("PATCH", f"{V}/receiver/locations/NL/CPO/LOC-B/E1", body=patch, to=HUB))

        for emsp in emsps:
            got = wait_for(
                partial(all_received, emsp, "/ocpi/2.2.1/locations/receiver/NL/CPO/LOC-B", 4),
                what=f"the pushes at {emsp.party}",
            )
            assert [r.method for r in got] == ["PUT", "PATCH", "PATCH", "PATCH"]
            assert got[0].body == loc
            assert [r.body for r in got[1:]] == patches
            assert got[1].path.endswith("/LOC-B/E1")
            assert (
                got[0].headers["ocpi-from-country-code"],
                got[0].headers["ocpi-from-party-id"],
            ) == HUB
            assert (got[0].headers["ocpi-to-party-id"]) == emsp.party[1]
        # Nothing went back to the sender.
        assert cpo.received(path="/ocpi/2.2.1/locations") == []


def test_a_receiver_that_was_down_gets_what_it_missed(fast_hub: InProcessHub) -> None:
    with (
        member(fast_hub, ("NL", "CPO", "CPO")) as cpo,
        member(fast_hub, ("NL", "EMD", "EMSP")) as emsp,
    ):
        emsp.fake.down = True
        ok(
            cpo.call(
                "PUT",
                f"{V}/receiver/locations/NL/CPO/LOC-D",
                body=location(("NL", "CPO"), "LOC-D"),
                to=HUB,
            )
        )
        for i, name in enumerate(["CHARGING", "AVAILABLE"]):
            loc = {
                **location(("NL", "CPO"), "LOC-D"),
                "name": name,
                "last_updated": f"2026-11-24T10:0{i}:30Z",
            }
            ok(cpo.call("PUT", f"{V}/receiver/locations/NL/CPO/LOC-D", body=loc, to=HUB))
        patch = {"name": "patched", "last_updated": "2026-11-24T10:05:00Z"}
        ok(cpo.call("PATCH", f"{V}/receiver/locations/NL/CPO/LOC-D", body=patch, to=HUB))

        # Repeated failures: OFFLINE, and direct calls get 4003 at once.
        wait_for(lambda: fast_hub.platform(emsp.id)["status"] == "OFFLINE", what="OFFLINE")
        status, _, answer = cpo.call(
            "PUT",
            f"{V}/receiver/locations/NL/CPO/LOC-X",
            body=location(("NL", "CPO"), "LOC-X"),
            to=emsp.party,
        )
        assert (status, answer["status_code"]) == (502, 4003)
        _, _, queues = fast_hub.admin("GET", "/queues")
        (queue,) = [q for q in queues if q["platform"] == emsp.id]
        assert queue["depth"] >= 1 and queue["status"] == "OFFLINE"

        emsp.fake.down = False
        got = wait_for(
            lambda: (
                [r for r in emsp.received(path="/ocpi/2.2.1/locations/receiver/NL/CPO/LOC-D")][-1:]
                and emsp.received(path="/ocpi/2.2.1/locations/receiver/NL/CPO/LOC-D")[-1].method
                == "PATCH"
                and emsp.received(path="/ocpi/2.2.1/locations/receiver/NL/CPO/LOC-D")
            ),
            what="the missed pushes",
        )
        # The latest full state, then the patch on it; not the stale history.
        assert [r.method for r in got] == ["PUT", "PATCH"]
        assert got[0].body["name"] == "AVAILABLE"
        assert got[1].body == patch
        wait_for(lambda: fast_hub.platform(emsp.id)["status"] == "CONNECTED", what="CONNECTED")
        # The others heard of it through HubClientInfo.
        path = "/ocpi/2.2.1/hubclientinfo/receiver/NL/EMD"
        wait_for(
            lambda: (
                [r.body["status"] for r in cpo.received("PUT", path)][-2:]
                == ["OFFLINE", "CONNECTED"]
            ),
            what="OFFLINE then CONNECTED announced",
        )


def test_an_expired_message_is_parked_and_can_be_redriven(
    hub_factory: Callable[..., HubProcess],
) -> None:
    hub = hub_factory(args=[*FAST, "--message-ttl", "1"]).start()
    with member(hub, ("NL", "CPO", "CPO")) as cpo, member(hub, ("NL", "EMT", "EMSP")) as emsp:
        emsp.fake.down = True
        ok(cpo.call("PUT", f"{V}/receiver/tariffs/NL/CPO/T-1", body=tariff("T-1"), to=HUB))

        def tariff_letters() -> list[Any]:
            letters = hub.admin("GET", f"/dead-letters?platform={emsp.id}")[2]
            return [d for d in letters if d["message"]["module"] == "tariffs"]

        (letter,) = wait_for(tariff_letters, what="a dead letter")
        assert "expired after 1 s" in letter["reason"]
        assert letter["message"]["path"] == "NL/CPO/T-1"
        emsp.fake.down = False
        status, _, answer = hub.admin(
            "POST", "/dead-letters/redrive", {"platform": emsp.id, "ids": [letter["id"]]}
        )
        assert (status, answer) == (200, {"redriven": 1})
        wait_for(
            lambda: emsp.received("PUT", "/ocpi/2.2.1/tariffs/receiver/NL/CPO/T-1"), what="redrive"
        )
        assert tariff_letters() == []


def tariff(tariff_id: str, updated: str = "2026-11-24T10:00:00Z") -> dict[str, Any]:
    return {
        "country_code": "NL",
        "party_id": "CPO",
        "id": tariff_id,
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": 0.3, "step_size": 1}]}],
        "last_updated": updated,
    }


def test_a_killed_hub_process_loses_nothing(
    hub_factory: Callable[..., HubProcess], tmp_path: Path
) -> None:
    with EmbeddedRedis(tmp_path / "shared") as redis:
        first = hub_factory(tmp_path / "a", args=[*FAST, "--redis-url", redis.url]).start()
        second = hub_factory(tmp_path / "b", args=[*FAST, "--redis-url", redis.url]).start()
        with (
            member(first, ("NL", "CPO", "CPO")) as cpo,
            member(first, ("NL", "EMK", "EMSP")) as emsp,
        ):
            emsp.fake.delay = 0.3
            count = 12
            for i in range(count):
                body = {**location(("NL", "CPO"), f"LOC-{i}")}
                ok(cpo.call("PUT", f"{V}/receiver/locations/NL/CPO/LOC-{i}", body=body, to=HUB))

            def puts() -> set[str]:
                return {r.body["id"] for r in emsp.received("PUT", "/ocpi/2.2.1/locations/")}

            wait_for(puts, what="the first delivery")
            holder = wait_for(
                lambda: next(
                    (
                        q["delivered_by"]
                        for q in first.admin("GET", "/queues")[2]
                        if q["platform"] == emsp.id
                    ),
                    None,
                ),
                what="a lease holder",
            )
            victim = first if f":{first.process.pid}:" in holder else second  # type: ignore[union-attr]
            victim.stop(signal.SIGKILL)
            survivor = second if victim is first else first
            ids = wait_for(
                lambda: puts() == {f"LOC-{i}" for i in range(count)} and puts(),
                timeout=30,
                what="every location after the kill",
            )
            assert len(ids) == count

            def depth() -> int:
                (queue,) = [
                    q for q in survivor.admin("GET", "/queues")[2] if q["platform"] == emsp.id
                ]
                return int(queue["depth"])

            wait_for(lambda: depth() == 0, what="an empty queue")


def test_get_all_pages_merge_parties_with_filters(fast_hub: InProcessHub) -> None:
    with (
        member(fast_hub, ("NL", "CPA", "CPO")) as cpa,
        member(fast_hub, ("DE", "CPB", "CPO")) as cpb,
        member(fast_hub, ("NL", "EMG", "EMSP")) as emsp,
    ):
        for i in range(3):
            ok(
                cpa.call(
                    "PUT",
                    f"{V}/receiver/locations/NL/CPA/A{i}",
                    to=HUB,
                    body={
                        **location(("NL", "CPA"), f"A{i}"),
                        "last_updated": f"2026-11-24T10:0{2 * i}:00Z",
                    },
                )
            )
            ok(
                cpb.call(
                    "PUT",
                    f"{V}/receiver/locations/DE/CPB/B{i}",
                    to=HUB,
                    body={
                        **location(("DE", "CPB"), f"B{i}"),
                        "last_updated": f"2026-11-24T10:0{2 * i + 1}:00Z",
                    },
                )
            )
        # An EVSE PUT moves A0 to the end: its last_updated becomes the EVSE's, as sent.
        ok(
            cpa.call(
                "PUT",
                f"{V}/receiver/locations/NL/CPA/A0/E9",
                to=HUB,
                body=evse("E9", "AVAILABLE", "2026-11-24T11:00:00.500Z"),
            )
        )
        # Data pushed directly to one receiver is not kept.
        ok(
            cpa.call(
                "PUT",
                f"{V}/receiver/locations/NL/CPA/DIRECT",
                to=emsp.party,
                body=location(("NL", "CPA"), "DIRECT"),
            )
        )

        url = f"{V}/sender/locations?date_from=2026-11-24T10:01:00Z&limit=2"
        seen: list[str] = []
        while url:
            headers, answer = ok(emsp.call("GET", url, to=HUB))
            assert headers["x-total-count"] == "6"
            assert headers["x-limit"] == "100"
            seen += [item["id"] for item in answer["data"]]
            link = headers.get("link")
            url = re.match(r"<([^>]+)>", link).group(1) if link else ""  # type: ignore[union-attr]
            if url:
                assert "date_from=2026-11-24T10%3A01%3A00Z" in url
        assert seen == ["B0", "A1", "B1", "A2", "B2", "A0"]

        # date_to is exclusive.
        headers, answer = ok(
            emsp.call(
                "GET",
                f"{V}/sender/locations?date_from=2026-11-24T10:01:00Z&date_to=2026-11-24T10:03:00Z",
                to=HUB,
            )
        )
        assert [item["id"] for item in answer["data"]] == ["B0", "A1"]
        assert "link" not in headers

        # One location, merged, last_updated exactly as sent.
        _, answer = ok(emsp.call("GET", f"{V}/sender/locations/A0", to=HUB))
        assert answer["data"]["last_updated"] == "2026-11-24T11:00:00.500Z"
        assert [e["uid"] for e in answer["data"]["evses"]] == ["E9"]


def test_hubclientinfo_announces_every_change_and_lists_every_party(fast_hub: InProcessHub) -> None:
    with member(fast_hub, ("NL", "LIS", "EMSP")) as listener:
        # A new platform: PLANNED.
        created = fast_hub.add_platform("Newcomer", ("BE", "NEW", "CPO"))
        path = "/ocpi/2.2.1/hubclientinfo/receiver/BE/NEW"

        def statuses() -> list[str]:
            return [r.body["status"] for r in listener.received("PUT", path)]

        wait_for(lambda: statuses() == ["PLANNED"], what="PLANNED")
        with member_from(fast_hub, created, ("BE", "NEW", "CPO")):
            wait_for(lambda: statuses() == ["PLANNED", "CONNECTED"], what="CONNECTED")
        fast_hub.admin("POST", f"/platforms/{created['id']}/suspend")
        wait_for(lambda: statuses()[-1:] == ["SUSPENDED"], what="SUSPENDED")
        info = listener.received("PUT", path)[-1].body
        assert set(info) == {"party_id", "country_code", "role", "status", "last_updated"}
        assert (info["country_code"], info["party_id"], info["role"]) == ("BE", "NEW", "CPO")
        # No routing headers on a configuration module.
        assert "ocpi-from-party-id" not in listener.received("PUT", path)[-1].headers

        # The list, paginated.
        _, answer = ok(listener.call("GET", f"{V}/hubclientinfo?limit=1"))
        status, headers, answer = listener.call("GET", f"{V}/hubclientinfo?limit=1")
        assert int(headers["x-total-count"]) >= 2
        assert len(answer["data"]) == 1
        parties = []
        url = f"{V}/hubclientinfo?limit=1"
        while url:
            status, headers, answer = listener.call("GET", url)
            assert status == 200
            parties += [(i["country_code"], i["party_id"], i["status"]) for i in answer["data"]]
            link = headers.get("link")
            url = re.match(r"<([^>]+)>", link).group(1) if link else ""  # type: ignore[union-attr]
        assert ("BE", "NEW", "SUSPENDED") in parties
        assert ("NL", "LIS", "CONNECTED") in parties


def member_from(hub: Hub, created: dict[str, Any], role: tuple[str, str, str]) -> Any:
    """Register a simulated platform for a platform the test created already."""
    from contextlib import contextmanager

    from tests.parties import FakePlatform

    @contextmanager
    def run() -> Iterator[FakePlatform]:
        with FakePlatform(roles=[role]) as fake:
            status, answer = fake.register(hub.versions_url, created["token_a"])
            assert status == 200, answer
            yield fake

    return run()


def test_broadcast_tokens_route_authorizations(fast_hub: InProcessHub) -> None:
    with (
        member(fast_hub, ("NL", "CPO", "CPO")) as cpo,
        member(fast_hub, ("NL", "EMA", "EMSP")) as emsp,
    ):
        ok(
            emsp.call(
                "PUT", f"{V}/receiver/tokens/NL/EMA/T-BC", body=token(("NL", "EMA"), "T-BC"), to=HUB
            )
        )
        wait_for(
            lambda: cpo.received("PUT", "/ocpi/2.2.1/tokens/receiver/NL/EMA/T-BC"), what="the token"
        )
        ok(cpo.call("POST", f"{V}/sender/tokens/T-BC/authorize"))
        assert emsp.received("POST", "/ocpi/2.2.1/tokens/sender/T-BC/authorize")
        # The token is kept for GET-all too.
        _, answer = ok(cpo.call("GET", f"{V}/sender/tokens", to=HUB))
        assert [t["uid"] for t in answer["data"]] == ["T-BC"]


def test_sessions_are_never_broadcast(fast_hub: InProcessHub) -> None:
    from tests.e2e.objects import session

    with member(fast_hub, ("NL", "CPO", "CPO")) as cpo, member(fast_hub, ("NL", "EMA", "EMSP")):
        status, _, answer = cpo.call(
            "PUT",
            f"{V}/receiver/sessions/NL/CPO/S-1",
            body=session(("NL", "CPO"), "S-1", ("NL", "EMA")),
            to=HUB,
        )
        assert (status, answer["status_code"]) == (404, 4001)
        assert "never broadcast" in answer["status_message"]


def test_a_silent_platform_gets_a_keep_alive(hub_factory: Callable[..., HubProcess]) -> None:
    hub = hub_factory(args=[*FAST, "--keepalive-interval", "1"]).start()
    with member(hub, ("NL", "QUI", "EMSP")) as quiet:
        before = len(quiet.fake.find_requests("GET", "/ocpi/versions"))
        wait_for(
            lambda: len(quiet.fake.find_requests("GET", "/ocpi/versions")) > before,
            timeout=10,
            what="a keep-alive GET of the versions",
        )


def test_removing_a_platform_drops_its_queue(
    hub_factory: Callable[..., HubProcess], tmp_path: Path
) -> None:
    import redis as redis_client

    with EmbeddedRedis(tmp_path / "shared") as redis:
        hub = hub_factory(args=[*FAST, "--redis-url", redis.url]).start()
        with member(hub, ("NL", "CPO", "CPO")) as cpo, member(hub, ("NL", "EMR", "EMSP")) as emsp:
            emsp.fake.down = True
            for i in range(3):
                body = location(("NL", "CPO"), f"LOC-R{i}")
                ok(cpo.call("PUT", f"{V}/receiver/locations/NL/CPO/LOC-R{i}", body=body, to=HUB))
            stream = f"ocpi-hub:{{p:{emsp.id}}}:queue"
            raw = redis_client.Redis.from_url(redis.url)
            try:
                assert raw.xlen(stream) >= 1
                assert hub.admin("DELETE", f"/platforms/{emsp.id}")[0] == 204
                wait_for(lambda: not raw.exists(stream), what="the queue to be dropped")
            finally:
                raw.close()
