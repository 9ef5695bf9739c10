"""Rate limits per platform and module (README: "Rate limits"): a call over the limit is HTTP 429
with ``Retry-After`` and reaches no receiver; a platform's own limits replace the hub's; a
platform without a limit costs no Redis call for it; and the limit holds across processes."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import client
from tests.e2e.network import Hub, Member, member
from tests.e2e.objects import location, session
from tests.hubproc import HubProcess
from tests.inprocess import InProcessHub
from tests.ownhub import own_hub
from tests.parties import RecordedRequest
from tests.processes import socket_owner, wait_until, workers
from tests.redisstats import calls, keys, reset

V = "/ocpi/2.2.1"
SESSIONS = f"{V}/sessions/receiver/"  # where the eMSPs receive them
MakeHub = Callable[..., HubProcess]
_numbers = itertools.count()


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InProcessHub]:
    """A hub that allows every platform 5 calls a minute of each module."""
    with own_hub(tmp_path_factory.mktemp("limits") / "data", rate_limit="5/min") as hub:
        yield hub


@contextmanager
def cpo_and_emsp(hub: Hub, country_code: str = "RL") -> Iterator[tuple[Member, Member]]:
    """A CPO and an eMSP of their own (their own budgets), each on its own platform."""
    n = next(_numbers)
    cpo_role, emsp_role = (country_code, f"C{n:02}", "CPO"), (country_code, f"E{n:02}", "EMSP")
    with member(hub, cpo_role) as cpo, member(hub, emsp_role) as emsp:
        yield cpo, emsp


def push_session(cpo: Member, emsp: Member, session_id: str) -> client.HttpResult:
    """One session the CPO sends straight to the eMSP, over a connection of its own."""
    path = f"{V}/receiver/sessions/{cpo.party[0]}/{cpo.party[1]}/{session_id}"
    return cpo.call("PUT", path, body=session(cpo.party, session_id, emsp.party), to=emsp.party)


def routed(result: client.HttpResult) -> bool:
    status, _, answer = result
    return (status, answer["status_code"]) == (200, 1000)


def rate_limited(hub: Hub, module: str) -> float:
    """``ocpi_hub_rate_limited_total`` of ``module``. In-process hubs share this process's
    metrics, so tests compare differences."""
    text = str(client.request("GET", f"{hub.url}/metrics")[2])
    found = re.search(rf'^ocpi_hub_rate_limited_total{{module="{module}"}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_call_over_the_limit_is_429_and_reaches_no_receiver(limited: InProcessHub) -> None:
    with cpo_and_emsp(limited) as (cpo, emsp):
        refused_before = rate_limited(limited, "sessions")
        for i in range(5):
            assert routed(push_session(cpo, emsp, f"S-{i}"))

        status, headers, answer = push_session(cpo, emsp, "S-OVER")

        assert status == 429, answer
        assert re.fullmatch(r"[0-9]+", headers["retry-after"])
        # 5/min: one more call every 12 s.
        assert 1 <= int(headers["retry-after"]) <= 12
        assert answer["status_code"] == 2000
        assert "5/min" in answer["status_message"] and "sessions" in answer["status_message"]
        assert answer["timestamp"]
        assert emsp.received(path=f"{SESSIONS}{cpo.party[0]}/{cpo.party[1]}/S-OVER") == []
        assert len(emsp.received(path=SESSIONS)) == 5
        assert rate_limited(limited, "sessions") == refused_before + 1

        # Each module has its own budget.
        locations_before = rate_limited(limited, "locations")
        path = f"{V}/receiver/locations/{cpo.party[0]}/{cpo.party[1]}/L-1"
        assert routed(cpo.call("PUT", path, body=location(cpo.party, "L-1"), to=emsp.party))
        assert emsp.received("PUT", f"{V}/locations/receiver/")
        assert rate_limited(limited, "locations") == locations_before


def test_a_platform_of_its_own_limits_replaces_the_hubs_for_it_only(
    limited: InProcessHub,
) -> None:
    with (
        cpo_and_emsp(limited) as (strict, emsp),
        cpo_and_emsp(limited) as (generous, _),
        cpo_and_emsp(limited) as (usual, _),
    ):
        changes = {strict.id: {"sessions": "2/min"}, generous.id: {"*": "100/min"}}
        for platform_id, limits in changes.items():
            status, _, answer = limited.admin(
                "PATCH", f"/platforms/{platform_id}", {"rate_limits": limits}
            )
            assert status == 200, answer
            assert limited.platform(platform_id)["rate_limits"] == limits

        results = {
            name: [push_session(cpo, emsp, f"S-{name}-{i}")[0] for i in range(8)]
            for name, cpo in (("strict", strict), ("generous", generous), ("usual", usual))
        }

        assert results == {
            "strict": [200] * 2 + [429] * 6,
            "generous": [200] * 8,
            "usual": [200] * 5 + [429] * 3,
        }
        _, _, answer = push_session(strict, emsp, "S-strict-again")
        assert "2/min" in answer["status_message"]
        # Its own limit names sessions only: for locations the hub's 5/min holds.
        path = f"{V}/receiver/locations/{strict.party[0]}/{strict.party[1]}"
        pushed = [
            strict.call(
                "PUT", f"{path}/L-{i}", body=location(strict.party, f"L-{i}"), to=emsp.party
            )[0]
            for i in range(6)
        ]
        assert pushed == [200] * 5 + [429]


def test_a_platform_without_a_limit_costs_no_redis_call_for_it(tmp_path: Path) -> None:
    with own_hub(tmp_path / "data") as hub, cpo_and_emsp(hub) as (cpo, emsp):
        assert routed(push_session(cpo, emsp, "S-WARM"))
        reset(hub.redis_url)
        for i in range(10):
            assert routed(push_session(cpo, emsp, f"S-{i}"))
        # The limit's script (hub.store.limits) is the only user of Redis's TIME.
        assert "time" not in calls(hub.redis_url)
        assert keys(hub.redis_url, "*:rate:*") == []

        # ... which the counter would see once a limit is set.
        status, _, _ = hub.admin("PATCH", f"/platforms/{cpo.id}", {"rate_limits": {"*": "1/s"}})
        assert status == 200
        reset(hub.redis_url)
        assert routed(push_session(cpo, emsp, "S-LIMITED"))
        assert calls(hub.redis_url)["time"] == 1
        assert len(keys(hub.redis_url, "*:rate:*")) == 1


def test_the_limit_holds_across_two_processes(hub_factory: MakeHub) -> None:
    hub = hub_factory(args=["--workers", "2", "--rate-limit", "20/min"]).start()
    assert hub.process is not None
    parent = hub.process.pid
    wait_until(lambda: len(workers(parent)) == 2, "two workers", 30)
    pids = workers(parent)
    with cpo_and_emsp(hub) as (cpo, emsp):
        served: list[int | None] = []

        def note_worker(request: RecordedRequest) -> None:
            if "/sessions/" in request.path and request.peer_port is not None:
                served.append(socket_owner(request.peer_port, emsp.fake.port, pids))

        emsp.fake.responder = note_worker
        # 40 calls at once, each over a connection of its own: well within the 3 s that
        # 20/min takes to allow one more.
        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(lambda i: push_session(cpo, emsp, f"S-{i}")[0], range(40)))

        allowed = statuses.count(200)
        assert 18 <= allowed <= 22, statuses
        assert statuses.count(429) == 40 - allowed
        assert len(emsp.received(path=SESSIONS)) == allowed
        assert set(served) == set(pids), f"both workers routed: {served}"

        # A platform's own limit, set through one worker, holds in both within a second.
        status, _, _ = hub.admin(
            "PATCH", f"/platforms/{cpo.id}", {"rate_limits": {"locations": "3/min"}}
        )
        assert status == 200
        time.sleep(1.0)
        path = f"{V}/receiver/locations/{cpo.party[0]}/{cpo.party[1]}"
        pushed = [
            cpo.call("PUT", f"{path}/L-{i}", body=location(cpo.party, f"L-{i}"), to=emsp.party)[0]
            for i in range(8)
        ]
        assert pushed == [200] * 3 + [429] * 5
    assert hub.stop() == 0
