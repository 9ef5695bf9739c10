"""HeldObjects refuses what it cannot keep, with the error the caller answers (OCPI 2001 for a
field, 2000 for a body that is not JSON), and stores nothing then; and a parent without a
``last_updated`` of its own takes its child's."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis.asyncio import Redis

from hub.errors import InvalidParametersError, NotJsonError
from hub.store.embedded import EmbeddedRedis
from hub.store.held import HeldObjects

NL = ("NL", "CPA")
Write = Callable[[HeldObjects], Awaitable[object]]


@pytest.fixture
def url(tmp_path: Path) -> Iterator[str]:
    with EmbeddedRedis(tmp_path / "data") as server:
        yield server.url


def run(url: str, scenario: Callable[[HeldObjects, Redis], Awaitable[None]]) -> None:
    async def main() -> None:
        client = Redis.from_url(url)
        try:
            await scenario(HeldObjects(client), client)
        finally:
            await client.aclose()

    asyncio.run(main())


def stamp(minute: int) -> str:
    return f"2024-03-01T10:{minute:02d}:00Z"


def js(value: Any) -> bytes:
    return orjson.dumps(value)


def connector(cid: str, last_updated: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": cid, "standard": "IEC_62196_T2", "format": "SOCKET"}
    if last_updated is not None:
        found["last_updated"] = last_updated
    return found


def evse(uid: str, last_updated: str | None) -> dict[str, Any]:
    found: dict[str, Any] = {"uid": uid, "status": "AVAILABLE", "connectors": []}
    if last_updated is not None:
        found["last_updated"] = last_updated
    return found


def location(lid: str, last_updated: str, *evses: dict[str, Any]) -> bytes:
    return js({"id": lid, "evses": list(evses), "last_updated": last_updated})


async def kept(held: HeldObjects, lid: str) -> Any:
    raw = await held.get("locations", NL, [lid])
    return None if raw is None else orjson.loads(raw)


KEPT = location("L1", stamp(1), evse("E1", stamp(1)))
REFUSED: dict[str, tuple[Write, type[Exception], str]] = {
    "a body that is not JSON": (
        lambda held: held.put("locations", NL, ["L2"], b"{nope"),
        NotJsonError,
        "the body is not JSON",
    ),
    "a body that is not an object": (
        lambda held: held.put("tariffs", NL, ["T1"], b"[1, 2]"),
        InvalidParametersError,
        "Expected `object`, got `array`",
    ),
    "no last_updated": (
        lambda held: held.put("tariffs", NL, ["T1"], js({"id": "T1"})),
        InvalidParametersError,
        "last_updated is required",
    ),
    "a last_updated that is not a date": (
        lambda held: held.put("tariffs", NL, ["T1"], js({"id": "T1", "last_updated": "today"})),
        InvalidParametersError,
        "last_updated: ",
    ),
    "an EVSE that is not JSON": (
        lambda held: held.put("locations", NL, ["L1", "E2"], b"\xff"),
        NotJsonError,
        "the body is not JSON",
    ),
    "a patch that is not an object": (
        lambda held: held.patch("locations", NL, ["L1"], b'"AVAILABLE"'),
        InvalidParametersError,
        "the body must be a JSON object",
    ),
    "a connector with a bad last_updated": (
        lambda held: held.put(
            "locations", NL, ["L1", "E1", "2"], js(connector("2", "2024-13-01T00:00:00Z"))
        ),
        InvalidParametersError,
        "last_updated: ",
    ),
    "a module the hub does not keep": (
        lambda held: held.put("sessions", NL, ["S1"], js({"id": "S1"})),
        ValueError,
        "the hub keeps no sessions",
    ),
    "a path too deep": (
        lambda held: held.put("tariffs", NL, ["T1", "x"], js({"id": "T1"})),
        ValueError,
        "bad tariffs path",
    ),
    "a delete of an EVSE": (
        lambda held: held.delete("locations", NL, ["L1", "E1"]),
        ValueError,
        "only whole objects are deleted",
    ),
    "a page from a date that is not one": (
        lambda held: held.page("locations", date_from="x", date_to=None, offset=0, limit=9),
        InvalidParametersError,
        "date_from: ",
    ),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_what_cannot_be_kept_is_refused_and_changes_nothing(url: str, case: str) -> None:
    write, error, said = REFUSED[case]

    async def scenario(held: HeldObjects, client: Redis) -> None:
        await held.put("locations", NL, ["L1"], KEPT)
        before = await _everything(client)
        with pytest.raises(error, match=said):
            await write(held)
        assert await _everything(client) == before

    run(url, scenario)


async def _everything(client: Redis) -> dict[bytes | str, Any]:
    found: dict[bytes | str, Any] = {}
    for key in sorted(await client.keys("*")):
        kind = await client.type(key)
        if kind == b"hash":
            found[key] = await client.hgetall(key)
        else:
            found[key] = await client.zrange(key, 0, -1, withscores=True)
    return found


def test_an_evse_without_last_updated_takes_its_connectors(url: str) -> None:
    async def scenario(held: HeldObjects, client: Redis) -> None:
        await held.put("locations", NL, ["L1"], location("L1", stamp(1), evse("E1", None)))
        # A connector without a date moves no one's.
        assert await held.put("locations", NL, ["L1", "E1", "1"], js(connector("1", None)))
        loc = await kept(held, "L1")
        assert (loc["last_updated"], "last_updated" in loc["evses"][0]) == (stamp(1), False)

        assert await held.put("locations", NL, ["L1", "E1", "2"], js(connector("2", stamp(3))))
        loc = await kept(held, "L1")
        assert (loc["last_updated"], loc["evses"][0]["last_updated"]) == (stamp(3), stamp(3))

    run(url, scenario)
