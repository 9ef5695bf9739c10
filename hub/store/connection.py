"""Opening the one Redis client of a process, and the edge where Redis errors are translated."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, RedisError

from hub.errors import StoreUnavailableError

log = logging.getLogger("hub.store")

RedisClient = Redis | RedisCluster


# Connections per process, whatever the number of platforms: nothing holds one for long (no
# blocking reads; delivery takes work from a schedule), so requests and deliveries share a few,
# and wait for a free one rather than fail when all are in use. Pub/sub listeners take one each.
MAX_CONNECTIONS = 48
POOL_TIMEOUT = 20.0


def open_redis(url: str, *, cluster: bool) -> RedisClient:
    """A client for ``url``; it connects lazily, so this does no I/O."""
    if cluster:
        return RedisCluster.from_url(url, max_connections=MAX_CONNECTIONS)
    pool = BlockingConnectionPool.from_url(
        url, max_connections=MAX_CONNECTIONS, timeout=POOL_TIMEOUT, health_check_interval=30
    )
    # from_pool: the client owns the pool, so closing the client closes its connections too
    # (a client given a pool with ``connection_pool=`` leaves it open).
    return Redis.from_pool(pool)


# The start of a Lua script that needs the time: ``now``, in milliseconds since the epoch by
# Redis's clock (hub processes on machines whose clocks differ agree on what is due).
LUA_NOW = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
"""


@dataclass(frozen=True)
class ScriptRun:
    """One run of a Lua script, for ``run_scripts``."""

    script: AsyncScript
    keys: Sequence[str]
    args: Sequence[Any]


async def run_scripts(redis: RedisClient, runs: Sequence[ScriptRun]) -> list[Any]:
    """The runs in one pipeline (not a transaction; on a cluster, each node's part goes to that
    node): for each, its answer or its error (an exception, not raised).

    As EVALSHA, not ``script(client=pipe)``: redis-py then sends SCRIPT EXISTS before every
    pipeline (one more round trip each time), and a cluster pipeline refuses it. A script that
    Redis does not know (it restarted, or failed over) is loaded, and the runs that failed for
    want of it are made again, in their order: one more round trip, that once."""
    answers = await _run(redis, runs)
    missing = [i for i, answer in enumerate(answers) if isinstance(answer, NoScriptError)]
    if missing:
        for script in {runs[i].script.sha: runs[i].script for i in missing}.values():
            await call(redis.script_load(script.script))
        again = await _run(redis, [runs[i] for i in missing])
        for i, answer in zip(missing, again, strict=True):
            answers[i] = answer
    return answers


async def _run(redis: RedisClient, runs: Sequence[ScriptRun]) -> list[Any]:
    async with redis.pipeline(transaction=False) as pipe:
        for run in runs:
            # Not pipe.evalsha(): a cluster pipeline refuses that name, not the command.
            pipe.execute_command("EVALSHA", run.script.sha, len(run.keys), *run.keys, *run.args)
        return list(await call(pipe.execute(raise_on_error=False)))


async def ready(redis: RedisClient) -> None:
    """Let a cluster client learn the slot map before anything (pub/sub included) uses it."""
    if isinstance(redis, RedisCluster):
        await call(redis.initialize())


async def call(command: Any) -> Any:
    """Await one redis-py command (or pipeline execution); its failures become
    ``StoreUnavailableError`` here, so that no Redis exception travels further."""
    try:
        return await command
    except (RedisError, OSError) as e:
        raise StoreUnavailableError(f"Redis: {e}") from e


def text(value: bytes | str) -> str:
    """A value as Redis returned it (bytes, or str from a client that decodes) as text."""
    return value.decode() if isinstance(value, bytes) else value


async def listen(
    redis: RedisClient, channel: str, changed: Callable[[bytes | str | None], None], what: str
) -> None:
    """Call ``changed(message)`` for every message on the pub/sub ``channel``, and
    ``changed(None)`` at every (re)subscription (whatever happened while nobody listened),
    until cancelled. It never dies: without it a process would see other processes' changes
    only when its copy ages."""
    while True:
        try:
            pubsub = redis.pubsub()
            try:
                await pubsub.subscribe(channel)
                changed(None)
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        changed(message.get("data", b""))
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
        except Exception as e:
            log.warning("%s interrupted (%r); retrying", what, e)
            changed(None)
            await asyncio.sleep(1.0)


def clustered(redis: RedisClient) -> bool:
    """``redis`` talks to a Redis Cluster: a command's keys must then share a slot."""
    return isinstance(redis, RedisCluster)
