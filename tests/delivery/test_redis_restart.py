"""Redis goes away and comes back (a restart, a failover): delivery outlives it, loses nothing
and sends nothing twice."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from hub.store.embedded import EmbeddedRedis
from tests.delivery.harness import Receiver, hub, running, until

FAST = {"retry_base": 0.05, "retry_max": 0.2}


def test_delivery_outlives_a_redis_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A short data dir: the restarted server listens on the same unix socket.
    server = EmbeddedRedis(tmp_path / "r")
    url = server.start()

    async def scenario() -> None:
        async with hub(url, **FAST) as h:
            with Receiver() as receiver:
                platform_id = await h.add_platform("EMA", receiver)
                await h.push(platform_id, "L1")
                async with running(h.deliverer) as task:
                    await until(lambda: asyncio.sleep(0, receiver.paths()), "L1")
                    server.stop()
                    await asyncio.sleep(1.5)  # scans fail meanwhile, and the platform's task
                    assert server.start() == url
                    await h.push(platform_id, "L2")
                    await until(lambda: asyncio.sleep(0, len(receiver.paths()) >= 2), "L2")
                    await asyncio.sleep(0.3)  # nothing else comes
                    assert not task.done()
                assert receiver.paths() == [
                    "/ocpi/2.2.1/locations/NL/CPO/L1",
                    "/ocpi/2.2.1/locations/NL/CPO/L2",
                ]

    try:
        with caplog.at_level(logging.WARNING, logger="hub.delivery"):
            asyncio.run(scenario())
    finally:
        server.stop()
    warnings = [r.getMessage() for r in caplog.records if r.name == "hub.delivery"]
    assert any(w.startswith("taking due platforms failed: Redis: ") for w in warnings), warnings
    # Redis errors are expected: none of them is logged as unexpected (with a traceback).
    assert not [r for r in caplog.records if r.exc_info], "an unexpected error"
