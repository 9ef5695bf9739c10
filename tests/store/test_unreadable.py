"""Entries of the hub-wide indexes that are not even text (bytes that are not UTF-8, written by
hand or by a bug) are skipped with a warning like any other entry the store cannot use: one bad
entry must not make every request fail."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from redis.asyncio import Redis

from hub.records import Party
from hub.store import keys
from hub.store.cache import PlatformCache
from hub.store.embedded import EmbeddedRedis
from hub.store.platforms import PlatformStore, hash_token

CPO = Party("NL", "CPA", "CPO")


def test_entries_that_are_not_text_are_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(url: str) -> None:
        redis = Redis.from_url(url)
        try:
            store = PlatformStore(redis)
            platform, token_a = await store.create("P", [CPO], "auto")
            await redis.sadd(keys.platform_ids(), b"\xff")
            await redis.hset(keys.token_index(), b"\xfe", platform.id)
            unreadable = hash_token("a token whose entry is broken")
            await redis.hset(keys.token_index(), unreadable, b"\xff C \xff")
            await redis.hset(keys.party_index(), b"NL:\xff:CPO", platform.id)
            await redis.hset(keys.party_index(), "NL:CPB:CPO", b"\xff")

            with caplog.at_level(logging.WARNING, logger="hub.store"):
                snapshot = await store.load_all()
            assert list(snapshot.platforms) == [platform.id]
            assert snapshot.granted == {CPO: platform.id}
            assert {m.platform_id for m in snapshot.tokens.values()} == {platform.id}
            # One warning an entry; the two token index entries are both named "?" (a token
            # hash is never logged), and one warning says it for both.
            # Only the store's own lines: the shared in-process hub logs into the same process.
            warned = [r.getMessage() for r in caplog.records if r.name == "hub.store"]
            assert len(warned) == 4, warned
            assert [p.id for p in await store.all()] == [platform.id]

            # Authentication reads the index too: the broken entry opens nothing, token A works.
            cache = PlatformCache(redis, store)
            assert (await cache.identify(["a token whose entry is broken"]))[0] is None
            match, _ = await cache.identify([token_a])
            assert match is not None and match.platform_id == platform.id
        finally:
            await redis.aclose()

    with EmbeddedRedis(tmp_path / "r") as server:
        asyncio.run(scenario(server.url))
