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
from hub.ocpi.credentials import ROLES as ROLES_221
from hub.ocpi.envelope import timestamp_now
from hub.ocpi.hubclientinfo import ClientInfo
from hub.ocpi.lanes import CPO_SIDE
from hub.ocpi.versions import HUBCLIENTINFO, RECEIVER, V2_3_0
from hub.partners import Partners
from hub.policy import PARTNER_ROLES, Policy, knows_of
from hub.records import CONNECTED, OFFLINE, SUSPENDED, PartyKey, Platform, can_receive
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


def listing(
    platforms: Iterable[Platform], policy: Policy | None = None, to: Platform | None = None
) -> list[ClientInfo]:
    """Every party (that ``to`` may know of, under ``policy``), oldest change first (stable:
    then by party)."""
    infos = [info for platform in platforms for info in client_infos(platform)]
    if policy is not None and to is not None:
        infos = [info for info in infos if told(policy, to, info)]
    return sorted(infos, key=lambda i: (i.last_updated, i.country_code, i.party_id, i.role))


def told(policy: Policy, listener: Platform, info: ClientInfo) -> bool:
    """``listener`` learns of ``info``'s party: agreements are off, it is one of its own, or
    one of its parties has an agreement with it."""
    if not readable(info, listener):
        return False
    party = (info.country_code, info.party_id)
    return any(role.key == party or knows_of(policy, role.key, party) for role in listener.roles)


def readable(info: ClientInfo, listener: Platform) -> bool:
    """A role 2.3.0 added (PTP) is not a 2.2.1 Role: a 2.2.1 or 2.1.1 listener could not read
    it (2.2.1 "HubClientInfo module", ClientInfo.role), and could do nothing with a payment
    terminal provider anyway."""
    return info.role in ROLES_221 or listener.version == V2_3_0


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
    def __init__(
        self,
        cache: PlatformCache,
        queue: Queue,
        wake: Callable[[], None],
        partners: Partners | None = None,
    ) -> None:
        """``partners``: under ``--agreements required`` a platform hears only of its
        partners' parties (None: agreements are off)."""
        self._cache = cache
        self._queue = queue
        self._wake = wake
        self._partners = partners

    async def _policy(self) -> Policy:
        return Policy() if self._partners is None else await self._partners.policy()

    async def status_changed(self, platform: Platform, old_status: str | None) -> None:
        snapshot = await self._cache.current()
        policy = await self._policy()
        others = [p for p in snapshot.platforms.values() if p.id != platform.id]
        items = [
            (listener.id, _message(info))
            for listener in others
            if _listens(listener)
            for info in client_infos(platform)
            if told(policy, listener, info)
        ]
        if platform.status == CONNECTED and old_status != OFFLINE and _listens(platform):
            # Newly registered: it learns everyone at once.
            items += [(platform.id, _message(info)) for info in listing(others, policy, platform)]
        await self._put(items)

    async def agreement_changed(self, cpo: PartyKey, partner: PartyKey, *, ended: bool) -> None:
        """A new agreement tells each side of the other's parties; an ended one (when no other
        agreement joins the two) tells each that the other is SUSPENDED for it."""
        snapshot = await self._cache.current()

        def platform_of(key: PartyKey, roles: frozenset[str]) -> Platform | None:
            for party, platform_id in snapshot.granted.items():
                if party.key == key and party.role in roles:
                    return snapshot.platforms.get(platform_id)
            return None

        sides = (platform_of(cpo, CPO_SIDE), platform_of(partner, PARTNER_ROLES))
        if sides[0] is None or sides[1] is None or sides[0].id == sides[1].id:
            return
        items = []
        for (speaker, source), target in (
            ((cpo, sides[0]), sides[1]),
            ((partner, sides[1]), sides[0]),
        ):
            if not _listens(target):
                continue
            for info in client_infos(source):
                if (info.country_code, info.party_id) != speaker or not readable(info, target):
                    continue
                if ended:
                    info = msgspec.structs.replace(
                        info, status=SUSPENDED, last_updated=timestamp_now()
                    )
                items.append((target.id, _message(info)))
        await self._put(items)

    async def _put(self, items: list[tuple[str, Message]]) -> None:
        await self._queue.put(items)
        if items:
            self._wake()
