"""The hook that keeps what an eMSP took (hub/kept.py), against a real redis-server: which calls
it keeps, that it reads no other call's body, and that a failure to keep is counted, not raised
(the receiver has the object already)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import orjson
import pytest
from redis.asyncio import Redis

from hub import metrics
from hub.kept import Kept
from hub.ocpi.lanes import LANES
from hub.ocpi.versions import RECEIVER, SENDER
from hub.store.embedded import EmbeddedRedis
from hub.store.kept import KeptRecords
from tests.parties import free_port

CPO, EMSP = ("NL", "CPA"), ("DE", "EMA")
SESSIONS, CDRS = LANES[("sessions", RECEIVER)], LANES[("cdrs", RECEIVER)]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with EmbeddedRedis(tmp_path_factory.mktemp("kept") / "data") as srv:
        yield srv.url


def run(url: str, scenario: Callable[[Kept], Awaitable[None]]) -> None:
    async def main() -> None:
        redis = Redis.from_url(url)
        try:
            await redis.flushdb()
            await scenario(Kept(KeptRecords(redis, retention=3600)))
        finally:
            await redis.aclose()

    asyncio.run(main())


def counted(module: str, outcome: str) -> float:
    text = metrics.exposition(metrics.SharedState(), multiprocess_mode=False).decode()
    found = re.search(
        rf'^ocpi_hub_kept_total\{{module="{module}",outcome="{outcome}"\}} (\S+)$', text, re.M
    )
    return float(found.group(1)) if found else 0.0


def body(object_id: str, **extra: object) -> bytes:
    return orjson.dumps({"id": object_id, "last_updated": "2026-01-01T00:00:00Z", **extra})


def test_sessions_and_cdrs_are_kept_for_their_receiver(url: str) -> None:
    async def scenario(kept: Kept) -> None:
        path = ["NL", "CPA", "S-1"]
        await kept.delivered(SESSIONS, "PUT", path, body("S-1", kwh=1), CPO, EMSP)
        await kept.delivered(SESSIONS, "PATCH", path, b'{"kwh": 2}', CPO, EMSP)
        await kept.delivered(CDRS, "POST", [], body("C-1"), CPO, EMSP)
        session = await kept.records.get("sessions", EMSP, CPO, "S-1")
        assert session is not None and orjson.loads(session)["kwh"] == 2
        assert await kept.records.get("cdrs", EMSP, CPO, "C-1") == body("C-1")
        # Kept for the receiver, not the sender.
        assert await kept.records.get("cdrs", CPO, CPO, "C-1") is None

    run(url, scenario)


def test_other_calls_are_passed_by_unread(url: str) -> None:
    async def scenario(kept: Kept) -> None:
        # Not JSON: reading it would fail (and count a failure).
        failed = counted("sessions", "failed") + counted("cdrs", "failed")
        for lane, method in [
            (LANES[("locations", RECEIVER)], "PUT"),
            (LANES[("tokens", RECEIVER)], "PUT"),
            (SESSIONS, "GET"),
            (CDRS, "GET"),
            # The eMSP's charging preferences, on the Sender interface.
            (LANES[("sessions", SENDER)], "PUT"),
        ]:
            await kept.delivered(lane, method, ["NL", "CPA", "X"], b"\xff not json", CPO, EMSP)
        assert counted("sessions", "failed") + counted("cdrs", "failed") == failed
        listed = await kept.records.page(
            "sessions", EMSP, date_from=None, date_to=None, offset=0, limit=9
        )
        assert listed == ([], 0)

    run(url, scenario)


def test_a_patch_of_a_session_not_kept_is_counted_as_missing(url: str) -> None:
    async def scenario(kept: Kept) -> None:
        missing = counted("sessions", "missing")
        await kept.delivered(SESSIONS, "PATCH", ["NL", "CPA", "S-2"], b'{"kwh": 2}', CPO, EMSP)
        assert counted("sessions", "missing") == missing + 1
        assert await kept.records.get("sessions", EMSP, CPO, "S-2") is None

    run(url, scenario)


def test_a_failure_to_keep_is_counted_and_logged_not_raised(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(kept: Kept) -> None:
        failed = counted("cdrs", "failed")
        # A CDR without an id cannot be kept.
        await kept.delivered(
            CDRS, "POST", [], b'{"last_updated": "2026-01-01T00:00:00Z"}', CPO, EMSP
        )
        assert counted("cdrs", "failed") == failed + 1
        assert "cdr POST from NL/CPA to DE/EMA was delivered but not kept" in caplog.text

    run(url, scenario)


def test_an_unreachable_redis_does_not_fail_the_delivered_call(tmp_path: Path) -> None:
    async def main() -> None:
        # Nothing listens there: every Redis call fails.
        redis = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=1)
        try:
            kept = Kept(KeptRecords(redis, retention=3600))
            failed = counted("cdrs", "failed")
            await kept.delivered(CDRS, "POST", [], body("C-3"), CPO, EMSP)
            assert counted("cdrs", "failed") == failed + 1
        finally:
            await redis.aclose()

    asyncio.run(main())


def test_an_unroutable_record_is_parked_and_counted(url: str) -> None:
    async def scenario(kept: Kept) -> None:
        text = metrics.exposition(metrics.SharedState(), multiprocess_mode=False).decode()
        before = re.search(r'^ocpi_hub_unrouted_total\{module="cdrs"\} (\S+)$', text, re.M)
        parked = await kept.unroutable("cdrs", CPO, "C-9", body("C-9"), "no eMSP for token T")
        assert (await kept.records.unrouted(0, 10))[0] == [parked]
        text = metrics.exposition(metrics.SharedState(), multiprocess_mode=False).decode()
        after = re.search(r'^ocpi_hub_unrouted_total\{module="cdrs"\} (\S+)$', text, re.M)
        assert after is not None
        assert float(after.group(1)) == (float(before.group(1)) if before else 0.0) + 1

    run(url, scenario)
