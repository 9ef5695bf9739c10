"""HubClientInfo (2.2.1 "HubClientInfo module"): every platform learns which parties are behind
the hub and in what state.

The hub is the module's sender: a paginated list of every party (each role of each platform)
with its status. And it pushes: whenever a platform is created (PLANNED), connects, goes
OFFLINE, comes back, or is suspended or removed (SUSPENDED), each of its parties is PUT to every
other registered platform with a hubclientinfo RECEIVER endpoint, through the durable queue. A
platform that connects gets the whole list pushed once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable

import msgspec

from hub.delivery.queue import Message, Queue
from hub.ocpi.hubclientinfo import ClientInfo
from hub.ocpi.versions import HUBCLIENTINFO, RECEIVER
from hub.records import CONNECTED, OFFLINE, Platform, can_receive
from hub.store.cache import PlatformCache

_encode = msgspec.json.Encoder()


def client_infos(platform: Platform) -> list[ClientInfo]:
    last_updated = platform.status_since or platform.created_at
    return [
        ClientInfo(
            party_id=r.party_id,
            country_code=r.country_code,
            role=r.role,
            status=platform.status,
            last_updated=last_updated,
        )
        for r in platform.roles
    ]


def listing(platforms: Iterable[Platform]) -> list[ClientInfo]:
    """Every party, oldest change first (stable: then by party)."""
    infos = [info for platform in platforms for info in client_infos(platform)]
    return sorted(infos, key=lambda i: (i.last_updated, i.country_code, i.party_id, i.role))


def _listens(platform: Platform) -> bool:
    # The delivery worker decides with the same predicate: what is queued here can be sent.
    return can_receive(platform, HUBCLIENTINFO, RECEIVER)


def _message(info: ClientInfo) -> Message:
    return Message(
        module=HUBCLIENTINFO,
        interface=RECEIVER,
        method="PUT",
        path=f"{info.country_code}/{info.party_id}",
        body=msgspec.Raw(_encode.encode(info)),
        # A configuration module: no routing headers (2.2.1 transport, "Request headers").
        sender=None,
        receiver=None,
        object=f"{HUBCLIENTINFO}:{info.country_code}:{info.party_id}:{info.role}",
        full_state=True,
        correlation_id=str(uuid.uuid4()),
        enqueued_at=time.time(),
    )


class Announcer:
    def __init__(self, cache: PlatformCache, queue: Queue, wake: Callable[[], None]) -> None:
        self._cache = cache
        self._queue = queue
        self._wake = wake

    async def status_changed(self, platform: Platform, old_status: str | None) -> None:
        snapshot = await self._cache.current()
        others = [p for p in snapshot.platforms.values() if p.id != platform.id]
        items = [
            (listener.id, _message(info))
            for listener in others
            if _listens(listener)
            for info in client_infos(platform)
        ]
        if platform.status == CONNECTED and old_status != OFFLINE and _listens(platform):
            # Newly registered: it learns everyone at once.
            items += [(platform.id, _message(info)) for info in listing(others)]
        await self._queue.put(items)
        if items:
            self._wake()
