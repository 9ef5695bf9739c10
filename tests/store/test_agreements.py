"""Roaming agreements in Redis (hub.store.agreements), against a Redis of the test's own."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

from hub.policy import Agreements
from hub.store import keys
from hub.store.agreements import AgreementCache, AgreementStore, new_agreement
from tests.store.scenario import run
from tests.waiting import wait_for_async

CPA, CPB, EMA = ("NL", "CPA"), ("NL", "CPB"), ("DE", "EMA")


def test_an_agreement_is_stored_once_per_pair_and_modules(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = AgreementStore(redis)
        first, new = await store.add(new_agreement(CPA, EMA, None))
        assert new
        again, new = await store.add(new_agreement(CPA, EMA, None))
        assert not new and again == first
        some, new = await store.add(new_agreement(CPA, EMA, ("locations",)))
        assert new and some.id != first.id
        assert {a.id for a in await store.all()} == {first.id, some.id}
        assert await store.get(first.id) == first

    run(url, scenario)


def test_extensions_are_kept_and_part_of_what_makes_an_agreement_the_same(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = AgreementStore(redis)
        plain, _ = await store.add(new_agreement(CPA, EMA, None))
        extended, new = await store.add(new_agreement(CPA, EMA, None, extensions=True))
        assert new and extended.id != plain.id and extended.extensions
        again, new = await store.add(new_agreement(CPA, EMA, None, extensions=True))
        assert not new and again == extended
        assert await store.get(extended.id) == extended
        assert {a.id: a.extensions for a in await store.all()} == {
            plain.id: False,
            extended.id: True,
        }
        # Removing the one with extensions leaves the pair its agreement without.
        assert await store.remove(extended.id) == extended
        assert await store.all() == [plain]
        assert Agreements.of(await store.all()).between(CPA, EMA, "sessions")
        assert not Agreements.of(await store.all()).extensions(CPA, EMA)
        _, new = await store.add(new_agreement(CPA, EMA, None, extensions=True))
        assert new, "its place is free again"

    run(url, scenario)


def test_an_agreement_stored_before_extensions_is_read_and_found_as_without(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = AgreementStore(redis)
        record = b'{"id":"0123456789abcdef","cpo":["NL","CPA"],"partner":["DE","EMA"],'
        record += b'"modules":["locations"],"created_at":"2024-01-01T00:00:00Z"}'
        await redis.hset(keys.agreements(), "0123456789abcdef", record)
        await redis.hset(keys.agreement_pairs(), "NL:CPA|DE:EMA|locations", "0123456789abcdef")
        (old,) = await store.all()
        assert (old.id, old.modules, old.extensions) == ("0123456789abcdef", ("locations",), False)
        same, new = await store.add(new_agreement(CPA, EMA, ("locations",)))
        assert not new and same == old
        assert await store.remove(old.id) == old
        assert await redis.hlen(keys.agreement_pairs()) == 0

    run(url, scenario)


def test_removing_frees_the_pair_and_says_whether_it_was_there(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = AgreementStore(redis)
        agreement, _ = await store.add(new_agreement(CPA, EMA, ("tariffs",)))
        assert await store.remove(agreement.id) == agreement
        assert await store.remove(agreement.id) is None
        assert await store.get(agreement.id) is None
        assert await redis.hlen(keys.agreement_pairs()) == 0
        _, new = await store.add(new_agreement(CPA, EMA, ("tariffs",)))
        assert new

    run(url, scenario)


def test_an_import_of_many_is_announced_once_and_is_idempotent(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = AgreementStore(redis)
        announced: list[None] = []
        store.on_change(lambda: announced.append(None))
        batch = [new_agreement(cpo, EMA, None) for cpo in (CPA, CPB)]
        assert [new for _, new in await store.add_many(batch)] == [True, True]
        assert len(announced) == 1
        again = [new_agreement(cpo, EMA, None) for cpo in (CPA, CPB)]
        found = await store.add_many(again)
        assert [new for _, new in found] == [False, False]
        assert [a.id for a, _ in found] == [a.id for a in batch]
        assert len(announced) == 1, "nothing new: nothing announced"

    run(url, scenario)


def test_an_unreadable_entry_is_skipped(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        store = AgreementStore(redis)
        agreement, _ = await store.add(new_agreement(CPA, EMA, None))
        await redis.hset(keys.agreements(), "garbage", b"{not json")
        assert await store.all() == [agreement]
        assert await store.get("garbage") is None

    run(url, scenario)


def test_every_process_sees_a_change_through_the_channel(url: str) -> None:
    async def scenario(redis: Redis) -> None:
        other_client = Redis.from_url(url)
        try:
            here, there = AgreementStore(redis), AgreementStore(other_client)
            cache = AgreementCache(other_client, there, max_age=3600)
            watcher = asyncio.create_task(cache.watch())
            try:
                assert not await cache.current()
                agreement, _ = await here.add(new_agreement(CPA, EMA, ("locations",)))

                async def seen() -> bool:
                    return Agreements.of(await cache.current()).between(CPA, EMA, "locations")

                await wait_for_async(seen, "the other process to see the agreement", timeout=5)
                await here.remove(agreement.id)

                async def gone() -> bool:
                    return not await cache.current()

                await wait_for_async(gone, "the other process to see it removed", timeout=5)
            finally:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
        finally:
            await other_client.aclose()

    run(url, scenario)
