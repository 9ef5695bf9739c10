"""Unknown tokens end to end: two hub processes on one Redis. A token one process issued is
accepted by the other at once, and a flood of bad tokens costs Redis reads only within a cap."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import redis

from hub.store.cache import LOOKUP_BURST, LOOKUP_RATE
from hub.store.embedded import EmbeddedRedis
from tests import client
from tests.hubproc import HubProcess
from tests.parties import b64


def token_lookups(url: str) -> int:
    """Token index reads so far on this Redis (HMGET is what a lookup costs)."""
    with redis.Redis.from_url(url) as r:
        stats = r.info("commandstats")
    return int(stats.get("cmdstat_hmget", {}).get("calls", 0))


def versions(hub: HubProcess, token: str) -> int:
    headers = {"Authorization": f"Token {b64(token)}"}
    return client.request("GET", hub.versions_url, headers=headers)[0]


def test_unknown_tokens_cost_redis_reads_only_within_a_cap(
    hub_factory: Callable[..., HubProcess], tmp_path: Path
) -> None:
    with EmbeddedRedis(tmp_path / "shared") as shared:
        first = hub_factory(tmp_path / "a", args=["--redis-url", shared.url]).start()
        second = hub_factory(tmp_path / "b", args=["--redis-url", shared.url]).start()

        # Issued by one process, accepted by the other at once.
        for n in range(3):
            created = first.add_platform(f"P{n}", ("NL", f"TK{n}", "CPO"))
            assert versions(second, created["token_a"]) == 200

        before, started = token_lookups(shared.url), time.monotonic()
        for n in range(300):
            assert versions(second, f"bad token number {n}") == 401
        elapsed = time.monotonic() - started
        looked_up = token_lookups(shared.url) - before
        assert looked_up <= LOOKUP_BURST + LOOKUP_RATE * elapsed + 1, (looked_up, elapsed)

        # A flood of one bad token costs one read.
        before = token_lookups(shared.url)
        for _ in range(50):
            assert versions(first, "the same bad token") == 401
        assert token_lookups(shared.url) - before <= 1
