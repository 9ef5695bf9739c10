"""Calls whose OCPI-to names the hub itself: broadcast push and GET-all (2.2.1 "Message
routing": Broadcast Push, GET All via Hub).

A push to the hub is kept (for GET-all), recorded durably and answered; then it is queued for
every registered platform of the other side that has the module's RECEIVER endpoint
(``hub.fanout``). A GET on the hub's SENDER interface is served from what the hub keeps: data pushed
directly to one receiver is never kept for others, so it is never served to them. The sessions
and CDRs delivered to an eMSP are kept for that eMSP alone, and served to it alone (README:
"Kept sessions and CDRs").
"""

from __future__ import annotations

import logging
import time
import urllib.parse

import msgspec
import orjson

from hub.bridge import CORE, Bridge, Withheld
from hub.errors import (
    InvalidParametersError,
    NotFoundError,
    UnknownLocationError,
    UnknownReceiverError,
    from_validation,
)
from hub.fanout import versions_of
from hub.ocpi import headers as h
from hub.ocpi.envelope import envelope
from hub.ocpi.lanes import Lane
from hub.ocpi.pagination import Page
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import RECEIVER, V2_2_1
from hub.policy import Policy
from hub.records import Party, PartyKey, label, party_key
from hub.routing import RoutingTable
from hub.settings import Settings
from hub.store.fanouts import Fanouts, Pushed, Written
from hub.store.held import HeldObjects
from hub.store.kept import MODULES as KEPT_MODULES
from hub.store.kept import KeptRecords

log = logging.getLogger("hub.broadcast")

BROADCAST_MODULES = frozenset({"locations", "tariffs", "tokens"})
# What a GET on the hub's SENDER interface lists: what was broadcast through the hub, and the
# sessions and CDRs it delivered to the caller.
SERVED_MODULES = BROADCAST_MODULES | KEPT_MODULES
PUSH_METHODS = frozenset({"PUT", "PATCH", "DELETE"})
# How many ids may follow the owner in a pushed object's URL: a Location, its EVSE, its
# Connector; a Tariff; a Token (2.2.1, each module's Receiver interface).
OBJECT_DEPTH = {"locations": 3, "tariffs": 1, "tokens": 1}


class Broadcast:
    def __init__(
        self,
        settings: Settings,
        held: HeldObjects,
        kept: KeptRecords,
        fanouts: Fanouts,
        bridge: Bridge,
    ) -> None:
        self._settings = settings
        self._bridge = bridge
        self._held = held
        self._kept = kept
        self._fanouts = fanouts
        self.hub = party_key(settings.country_code, settings.party_id)

    async def push(
        self,
        table: RoutingTable,
        policy: Policy,
        lane: Lane,
        sender: Party,
        caller_id: str,
        method: str,
        segments: list[str],
        query: str,
        body: bytes | None,
        correlation_id: str,
        *,
        original: tuple[str, str, str, bytes] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """``body`` is the core's (2.2.1); ``original`` is what the sender sent: (version,
        method, query, body), which receivers of that version get as it is."""
        if lane.interface != RECEIVER or method not in PUSH_METHODS:
            raise UnknownReceiverError("only pushes (PUT, PATCH, DELETE) can be broadcast")
        if lane.module not in BROADCAST_MODULES:
            raise UnknownReceiverError(
                f"{lane.module} are never broadcast: name the receiver in the OCPI-to headers"
            )
        owner = sender.key
        path = segments[2:]  # below /{country_code}/{party_id}
        deepest = OBJECT_DEPTH[lane.module] if method != "DELETE" else 1
        if not 1 <= len(path) <= deepest:
            shape = "/{country_code}/{party_id}/{id}"
            if deepest == 3:
                shape += "[/{evse_uid}[/{connector_id}]]"
            raise InvalidParametersError(f"the URL of a {method} must end in {shape}")
        if lane.module == "tokens" and path:
            path = [path[0], urllib.parse.parse_qs(query).get("type", ["RFID"])[0]]
        if body is None:
            # The core's version cannot carry it (``original`` only reaches receivers of its
            # own version): nothing is kept for GET-all, which answers in the core's terms.
            pass
        elif method == "PUT":
            await self._held.put(lane.module, owner, path, body)
        elif method == "PATCH":
            if not await self._held.patch(lane.module, owner, path, body):
                raise NotFoundError(
                    f"the hub holds no {lane.module[:-1]} {'/'.join(path)} to patch"
                )
        elif method == "DELETE":
            await self._held.delete(lane.module, owner, path)
        # Each receiver gets the call in its version (README: "OCPI 2.1.1 platforms"), written
        # here once per version and per whether an agreement lets the receiver keep the 2.3.0
        # extensions (README: "Roaming agreements"); then recorded, and queued for each
        # receiver after the answer (``hub.fanout``): the sender does not wait for N queues.
        written = []
        for version in sorted(versions_of(table) | {CORE}):
            for keep in (False, True) if version != CORE else (False,):
                found = await self._in_version(
                    version, lane.module, method, segments, query, body, original, keep=keep
                )
                if found is not None:
                    sent_method, sent_query, sent_body = found
                    raw = msgspec.Raw(sent_body or b"null")
                    written.append(Written(version, keep, sent_method, sent_query, raw))
        await self._fanouts.record(
            Pushed(
                module=lane.module,
                segments=segments,
                caller_id=caller_id,
                owner=owner,
                correlation_id=correlation_id,
                enqueued_at=time.time(),
                written=written,
            )
        )
        headers = self._headers(owner)
        return 200, headers, envelope()

    async def _in_version(
        self,
        version: str | None,
        module: str,
        method: str,
        segments: list[str],
        query: str,
        body: bytes | None,
        original: tuple[str, str, str, bytes] | None,
        *,
        keep: bool,
    ) -> tuple[str, str, bytes] | None:
        version = version or CORE
        if original is not None and original[0] == version:
            sent_method, sent_query, sent = original[1:]
            kept = self._bridge.between(
                version, module, RECEIVER, sent_method, segments, sent, keep=keep
            )
            return sent_method, sent_query, kept
        if body is None:
            return None
        if version == CORE:
            return method, query, body
        written = await self._bridge.from_core(
            version, module, RECEIVER, method, segments, query, body
        )
        if isinstance(written, Withheld):
            log.info("%s %s not sent to %s receivers: %s", method, module, version, written.why)
            return None
        return method, *written

    async def serve(
        self,
        policy: Policy,
        lane: Lane,
        sender: Party,
        method: str,
        segments: list[str],
        query: str,
    ) -> tuple[int, dict[str, str], bytes]:
        """GET-all and single objects from the hub's own copy; the caller's own sessions and
        CDRs."""
        if method != "GET" or lane.module not in SERVED_MODULES:
            raise UnknownReceiverError(
                f"the hub serves GET lists of {', '.join(sorted(SERVED_MODULES))} only"
            )
        headers = self._headers(sender.key)
        if segments:
            if lane.module != "locations":
                raise NotFoundError(f"no single-object GET on the {lane.module} sender interface")
            if len(segments) > OBJECT_DEPTH["locations"]:
                raise InvalidParametersError(
                    "the URL must end in /{location_id}[/{evse_uid}[/{connector_id}]]"
                )
            owners = [
                owner
                for owner in await self._held.owners_of(lane.module, segments)
                if policy.reaches(sender.key, owner, module=lane.module)
            ]
            if len(owners) > 1:
                # One id, several partners' objects: the caller names the owner in OCPI-to.
                names = ", ".join(label(o) for o in sorted(owners))
                raise UnknownReceiverError(
                    f"location {segments[0]} is kept by several parties ({names}): "
                    "name one in the OCPI-to headers"
                )
            found = await self._held.get(lane.module, owners[0], segments) if owners else None
            if found is None:
                # Another party's object is answered as if it did not exist.
                raise UnknownLocationError(f"the hub holds no location {'/'.join(segments)}")
            return 200, headers, envelope(orjson.Fragment(found))
        try:
            page = Page.of(query)
        except InvalidInputError as e:
            raise from_validation(e) from e
        date_from, date_to = page.params.get("date_from"), page.params.get("date_to")
        if lane.module in KEPT_MODULES:
            # Everything the hub delivered to the caller, also from a CPO whose agreement has
            # ended since: under --agreements required nothing was delivered without one, and
            # an eMSP must still be able to bill the sessions its customers had (README: "Kept
            # sessions and CDRs"). No one else's: the caller's party names the records.
            items, total = await self._kept.page(
                lane.module,
                sender.key,
                date_from=date_from,
                date_to=date_to,
                offset=page.offset,
                limit=page.limit,
            )
        else:
            items, total = await self._held.page(
                lane.module,
                date_from=date_from,
                date_to=date_to,
                offset=page.offset,
                limit=page.limit,
                owners=policy.agreements.partners(sender.key, lane.module)
                if policy.required
                else None,
            )
        url = f"{self._settings.base_url}/ocpi/{V2_2_1}/sender/{lane.module}"
        headers.update(page.headers(url, len(items), total))
        return 200, headers, envelope([orjson.Fragment(i) for i in items])

    def _headers(self, to: PartyKey) -> dict[str, str]:
        """Answers of the hub as a party: FROM is the hub (2.2.1 message routing table)."""
        return {
            "content-type": "application/json",
            h.FROM_COUNTRY_CODE: self.hub[0],
            h.FROM_PARTY_ID: self.hub[1],
            h.TO_COUNTRY_CODE: to[0],
            h.TO_PARTY_ID: to[1],
        }
