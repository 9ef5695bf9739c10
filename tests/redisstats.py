"""What a hub asked of its Redis: the server's own per-command counters (``INFO commandstats``,
which also count the commands a Lua script runs), read and reset over a connection of the test's
own. No MONITOR: the counters cost the hub nothing."""

from __future__ import annotations

import redis


def reset(url: str) -> None:
    """Start the counters again from zero (``CONFIG RESETSTAT``)."""
    with redis.Redis.from_url(url) as connection:
        connection.config_resetstat()


def calls(url: str) -> dict[str, int]:
    """How often each command ran since the last ``reset``, by lowercase name."""
    with redis.Redis.from_url(url) as connection:
        stats = connection.info("commandstats")
    # The test's own connections show too (CLIENT SETINFO, CONFIG, INFO): never the commands
    # a test looks for.
    return {name.removeprefix("cmdstat_"): int(v["calls"]) for name, v in stats.items()}


def keys(url: str, pattern: str) -> list[str]:
    with redis.Redis.from_url(url, decode_responses=True) as connection:
        return sorted(connection.scan_iter(match=pattern))


def reads(url: str) -> int:
    """How many times Redis read from its clients' connections since the last ``reset``: about
    one per round trip (a pipeline's commands arrive together), whoever made it. This reading
    counts one itself."""
    with redis.Redis.from_url(url) as connection:
        return int(connection.info("stats")["total_reads_processed"])
