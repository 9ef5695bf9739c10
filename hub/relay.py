"""Relaying one call of a functional module to the platform that receives it.

The steps: the sender from the token and OCPI-from (``routing.sender``), the call's facts from
its URL and body (``ocpi.calls``), the owner checks, the receiver from OCPI-to or, without it,
from what the hub learned of tokens, locations and sessions (open routing), then one forward
with the receiver's token. URLs that only work with the receiver's token are replaced with hub
URLs on the way (command and charging-profile ``response_url``, ``Link``, CDR ``Location``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from hub import metrics
from hub.broadcast import Broadcast
from hub.errors import (
    InvalidParametersError,
    MethodNotAllowedError,
    NotFoundError,
    NotJsonError,
    ReceiverBrokenError,
    ReceiverTimeoutError,
    ReceiverUnreachableError,
    RefusedUrlError,
    from_validation,
)
from hub.forward import PlatformClient, PlatformResponse
from hub.ocpi import headers as h
from hub.ocpi.calls import Facts, inspect
from hub.ocpi.common import COUNTRY_CODE_PATTERN, PARTY_ID_PATTERN
from hub.ocpi.lanes import LANES, Lane
from hub.ocpi.paths import join
from hub.ocpi.status import SUCCESS
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import RECEIVER, SENDER, V2_2_1
from hub.openrouting import open_receiver
from hub.records import CONNECTED, Party, PartyKey, label, party_key
from hub.replies import Reply, read_reply, response_timeout
from hub.routing import PlatformEntry, RoutingTable, Target, check_owner, receiver, sender
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.directory import SESSION_SECONDS, Directory
from hub.store.platforms import Snapshot
from hub.store.proxies import ProxyRoute, ProxyStore

# Response headers of the receiver that the sender gets back (the others are hop-by-hop or
# describe the receiver's server). The routing headers are not among them: the hub writes them
# itself, naming the parties of this exchange as it knows them.
PASSED_BACK = ("content-type", h.TOTAL_COUNT, h.LIMIT)
# Values a pagination header may have: a count.
_COUNT = re.compile(r"[0-9]{1,18}")
# A command result can come until the CommandResponse's timeout; some slack for slow clocks.
CALLBACK_MARGIN = 60.0
# No result waits longer than this (nor a reservation's cancellation): a bound on what the hub
# keeps for a CPO that claims a timeout of centuries.
LONGEST_CALLBACK = 31 * 24 * 3600.0
# How long a rewritten next-page link keeps working.
PAGE_SECONDS = 3600.0
# How long a rewritten CDR Location keeps working: CDRs are fetched long after.
LOCATION_SECONDS = 90 * 24 * 3600.0

log = logging.getLogger("hub.relay")

_COUNTRY_CODE = re.compile(COUNTRY_CODE_PATTERN)
_PARTY_ID = re.compile(PARTY_ID_PATTERN)
_PROXY_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True)
class Call:
    """One inbound call of a functional module, as the web layer read it."""

    module: str
    interface: str
    method: str
    segments: tuple[str, ...]  # the ids below the module's URL, each decoded once
    query: str  # the raw query string
    headers: Mapping[str, str]  # lower-case names
    body: bytes
    correlation_id: str


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    # for the access log and the metrics
    ocpi_status: int | None = None
    sender: str = ""
    receiver: str = ""
    forward_seconds: float | None = None


class Relay:
    def __init__(
        self,
        settings: Settings,
        cache: PlatformCache,
        directory: Directory,
        proxies: ProxyStore,
        client: PlatformClient,
        broadcast: Broadcast,
    ) -> None:
        self._settings = settings
        self._broadcast = broadcast
        self._cache = cache
        self._directory = directory
        self._proxies = proxies
        self._client = client
        self._hub = party_key(settings.country_code, settings.party_id)
        self._table: tuple[Snapshot, RoutingTable] | None = None

    async def table(self) -> tuple[Snapshot, RoutingTable]:
        snapshot = await self._cache.current()
        if self._table is None or self._table[0] is not snapshot:
            table = RoutingTable(
                platforms={i: PlatformEntry.of(p) for i, p in snapshot.platforms.items()},
                granted=snapshot.granted,
                hub=self._hub,
            )
            self._table = (snapshot, table)
        return self._table

    # --- the routed call --------------------------------------------------------------

    async def relay(self, caller_id: str, call: Call) -> Answer:
        snapshot, table = await self.table()
        lane = LANES[(call.module, call.interface)]
        caller = table.platforms[caller_id]
        party = sender(caller, _pair(call.headers, h.FROM_COUNTRY_CODE, h.FROM_PARTY_ID), lane)
        segments = list(call.segments)
        query = dict(urllib.parse.parse_qsl(call.query, keep_blank_values=True))
        try:
            facts = inspect(call.module, call.interface, call.method, segments, query, call.body)
        except InvalidInputError as e:
            raise from_validation(e) from e
        if facts.response_url is not None:
            try:
                self._client.check(facts.response_url)
            except RefusedUrlError as e:
                raise InvalidParametersError(f"response_url is refused: {e.reason}") from e
        if lane.owner_in_url and facts.url_owner is not None:
            check_owner(party, facts.url_owner, "the URL")
        if facts.body_owner is not None:
            check_owner(party, facts.body_owner, "the body")

        wanted = _pair(call.headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID)
        if wanted == self._hub:
            if lane.interface == RECEIVER:
                status, headers, content = await self._broadcast.push(
                    table,
                    lane,
                    party,
                    caller_id,
                    call.method,
                    segments,
                    call.query,
                    call.body,
                    call.correlation_id,
                )
                await self._learn_owner(call, lane, facts, party.key)
            else:
                status, headers, content = await self._broadcast.serve(
                    lane, party, call.method, segments, call.query
                )
            mode = "broadcast" if lane.interface == RECEIVER else "served"
            metrics.ROUTING.labels(call.module, mode, "").inc()
            return Answer(status, headers, content, SUCCESS, label(party), label(self._hub))
        if wanted is None:
            wanted = await open_receiver(self._directory, lane, party, facts)
        target = receiver(table, wanted, lane, caller)
        token = snapshot.outbound.get(target.platform.id)
        if token is None:
            raise ReceiverUnreachableError(f"receiver {label(wanted)} has no token for the hub")

        url = join(target.url, segments)
        body, query_string = call.body, call.query
        callback: str | None = None
        if facts.response_url:
            callback, hub_url = await self._callback(facts, caller, party, target)
            if facts.response_url_in_query:
                query_string = _replace_query(call.query, "response_url", hub_url)
            else:
                body = _replace_field(call.body, "response_url", hub_url)
        if query_string:
            url = f"{url}?{query_string}"
        began = time.perf_counter()
        response = await self._forward(call, url, body, token, target, party)
        forwarded = time.perf_counter() - began
        metrics.FORWARD_DURATION.labels(call.module).observe(forwarded)
        reply = read_reply(response, target.party)
        answer = await self._answer(response, lane, call, caller, party, target)
        if 200 <= response.status < 300 and reply.status_code == SUCCESS:
            await self._learn(call, lane, facts, party, target, reply, callback)
        mode = "open" if _pair(call.headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID) is None else "direct"
        metrics.ROUTING.labels(call.module, mode, "").inc()
        return dataclasses.replace(
            answer,
            ocpi_status=reply.status_code,
            sender=label(party),
            receiver=label(target.party),
            forward_seconds=forwarded,
        )

    async def _callback(
        self, facts: Facts, caller: PlatformEntry, party: Party, target: Target
    ) -> tuple[str, str]:
        """A one-time hub URL for the result the CPO will post, leading to the original
        ``response_url`` with the requester's token."""
        route = ProxyRoute(
            kind="callback",
            url=facts.response_url or "",
            target=caller.id,
            caller=target.platform.id,
            module="commands" if facts.command else "chargingprofiles",
            methods=["POST"],
            sender=target.party.key,
            receiver=party.key,
            once=facts.command != "RESERVE_NOW",
        )
        # Until the answer tells the command's timeout, keep it as long as the call may last.
        proxy_id = await self._proxies.create(
            route, self._settings.forward_timeout + CALLBACK_MARGIN
        )
        return proxy_id, self.proxy_url(proxy_id)

    def proxy_url(self, proxy_id: str) -> str:
        assert is_proxy_id(proxy_id)
        return f"{self._settings.base_url}/ocpi/{V2_2_1}/via/{proxy_id}"

    async def _forward(
        self,
        call: Call,
        url: str,
        body: bytes,
        token: str,
        target: Target,
        party: Party,
        *,
        given: bool = False,
    ) -> PlatformResponse:
        """One forwarded call. ``given``: ``url`` came in an earlier answer or call (a next page,
        a CDR location, a response_url) rather than from the receiver's endpoints."""
        sent = {
            h.CORRELATION_ID: call.correlation_id,
            h.FROM_COUNTRY_CODE: party.country_code,
            h.FROM_PARTY_ID: party.party_id,
            h.TO_COUNTRY_CODE: target.party.country_code,
            h.TO_PARTY_ID: target.party.party_id,
        }
        try:
            return await self._client.request(
                call.method,
                url,
                token=token,
                base64_encoded=target.platform.base64,
                body=body or None,
                headers=sent,
            )
        except ReceiverTimeoutError as e:
            raise ReceiverTimeoutError(
                f"receiver {label(target.party)} did not answer within "
                f"{self._settings.forward_timeout:g} s"
            ) from e
        except RefusedUrlError as e:
            if given:
                raise ReceiverBrokenError(
                    f"receiver {label(target.party)} gave a URL the hub will not call: {e.reason}"
                ) from e
            # Its own endpoint: not the sender's business why (the operator's log has it).
            log.warning("receiver %s: %s", label(target.party), e.message)
            raise ReceiverUnreachableError(
                f"receiver {label(target.party)} cannot be reached"
            ) from e
        except ReceiverUnreachableError as e:
            # Neither the receiver's URL nor the low-level reason: that is the receiver's and
            # the operator's business (the log has it).
            raise ReceiverUnreachableError(
                f"receiver {label(target.party)} cannot be reached"
            ) from e
        except ReceiverBrokenError as e:
            raise ReceiverBrokenError(f"receiver {label(target.party)}: {e.message}") from e

    async def _answer(
        self,
        response: PlatformResponse,
        lane: Lane,
        call: Call,
        caller: PlatformEntry,
        party: Party,
        target: Target,
    ) -> Answer:
        received = {k.lower(): v for k, v in response.headers.items()}
        back = {k: received[k] for k in PASSED_BACK if k in received}
        for name in (h.TOTAL_COUNT, h.LIMIT):
            if name in back and not _COUNT.fullmatch(back[name]):
                del back[name]  # not a count: nothing the sender could use
        # 2.2.1 message routing: the answer comes from the receiver, to the sender.
        back[h.FROM_COUNTRY_CODE] = target.party.country_code
        back[h.FROM_PARTY_ID] = target.party.party_id
        back[h.TO_COUNTRY_CODE] = party.country_code
        back[h.TO_PARTY_ID] = party.party_id
        link = received.get(h.LINK)
        if link and (match := _LINK_NEXT.search(link)):
            self._check_given(match.group(1), "next page link", target)
            page = ProxyRoute(
                kind="page",
                url=match.group(1),
                target=target.platform.id,
                caller=caller.id,
                module=lane.module,
                methods=["GET"],
                sender=party.key,
                receiver=target.party.key,
            )
            proxy_id = await self._proxies.create(page, PAGE_SECONDS)
            back["link"] = f'<{self.proxy_url(proxy_id)}>; rel="next"'
        location = received.get(h.LOCATION)
        if location and lane.module == "cdrs" and call.method == "POST":
            self._check_given(location, "CDR location", target)
            stored = ProxyRoute(
                kind="location",
                url=location,
                target=target.platform.id,
                caller=caller.id,
                module="cdrs",
                methods=["GET"],
                sender=party.key,
                receiver=target.party.key,
            )
            proxy_id = await self._proxies.create(stored, LOCATION_SECONDS)
            back["location"] = self.proxy_url(proxy_id)
        return Answer(response.status, back, response.body)

    def _check_given(self, url: str, what: str, target: Target) -> None:
        """A URL in a receiver's answer that the hub will hand out as its own: 4000 when the
        hub would refuse to call it."""
        try:
            self._client.check(url)
        except RefusedUrlError as e:
            raise ReceiverBrokenError(
                f"receiver {label(target.party)} answered with a {what} the hub will not call: "
                f"{e.reason}"
            ) from e

    async def _learn(
        self,
        call: Call,
        lane: Lane,
        facts: Facts,
        party: Party,
        target: Target,
        reply: Reply,
        callback: str | None,
    ) -> None:
        """Remember what later open routing needs, and how long a callback must live."""
        me = party.key
        them = target.party.key
        await self._learn_owner(call, lane, facts, me)
        if lane.interface == RECEIVER and call.method == "PUT":
            if call.module == "sessions" and facts.session_id and facts.counterpart:
                await self._directory.remember(
                    "session", facts.session_id, me, facts.counterpart, ttl=SESSION_SECONDS
                )
            elif call.module == "chargingprofiles" and facts.session_id:
                await self._directory.remember(
                    "profile", f"{them[0]}:{them[1]}:{facts.session_id}", me, ttl=SESSION_SECONDS
                )
        if facts.command == "RESERVE_NOW" and facts.reservation_id:
            ttl = min(_seconds_until(facts.expiry_date) + CALLBACK_MARGIN, LONGEST_CALLBACK)
            await self._directory.remember(
                "reservation", facts.reservation_id, them, me, ttl=int(ttl)
            )
        if callback is not None:
            await self._proxies.keep_for(callback, self._callback_ttl(facts, reply))

    async def _learn_owner(self, call: Call, lane: Lane, facts: Facts, me: PartyKey) -> None:
        """Who owns a location or a token, from its PUT, whether sent to one receiver or
        broadcast: commands and authorizations find their way by it."""
        if lane.interface != RECEIVER or call.method != "PUT":
            return
        if call.module == "locations" and facts.location_id and len(call.segments) == 3:
            await self._directory.remember("location", facts.location_id, me)
        elif call.module == "tokens" and facts.token is not None:
            uid, kind = facts.token
            await self._directory.remember("token", f"{kind}:{uid}", me)

    def _callback_ttl(self, facts: Facts, reply: Reply) -> float:
        """A reservation can be cancelled until it expires; other results come within the
        ``timeout`` of the CommandResponse or ChargingProfileResponse. Whatever the CPO says
        (a negative timeout, 1e308), the result can arrive for at least the margin and the
        hub URL lives no longer than ``LONGEST_CALLBACK``."""
        timeout = response_timeout(reply)
        if timeout is None or not math.isfinite(timeout):
            timeout = self._settings.forward_timeout
        ttl = max(0.0, timeout) + CALLBACK_MARGIN
        if facts.command == "RESERVE_NOW":
            ttl = max(ttl, _seconds_until(facts.expiry_date) + CALLBACK_MARGIN)
        return min(ttl, LONGEST_CALLBACK)

    # --- hub URLs that stand for a platform's URL ----------------------------------

    async def follow(self, caller_id: str, proxy_id: str, call: Call) -> Answer:
        """A call to a hub URL handed out earlier: a command or charging-profile result, the
        next page of a list, a CDR's Location."""
        route = await self._proxies.get(proxy_id)
        if route is None or route.caller != caller_id:
            raise NotFoundError("unknown or expired hub URL")
        if call.method not in route.methods:
            raise MethodNotAllowedError(
                f"{call.method} is not possible on this hub URL", allowed=frozenset(route.methods)
            )
        snapshot, table = await self.table()
        target = table.platforms.get(route.target)
        token = snapshot.outbound.get(route.target)
        if target is None or token is None or target.status != CONNECTED:
            raise ReceiverUnreachableError(f"receiver {label(route.receiver)} is not connected")
        party = Party(route.sender[0], route.sender[1], "")
        receiving = Party(route.receiver[0], route.receiver[1], "")
        destination = Target(target, receiving, route.url)
        began = time.perf_counter()
        response = await self._forward(
            call, route.url, call.body, token, destination, party, given=True
        )
        forwarded = time.perf_counter() - began
        metrics.FORWARD_DURATION.labels(route.module).observe(forwarded)
        reply = read_reply(response, receiving)
        metrics.ROUTING.labels(route.module, route.kind, "").inc()
        lane = LANES[(route.module, SENDER if route.kind == "callback" else RECEIVER)]
        answer = await self._answer(
            response, lane, call, table.platforms[caller_id], party, destination
        )
        if route.once and 200 <= response.status < 300:
            await self._proxies.forget(proxy_id)
        return dataclasses.replace(
            answer,
            ocpi_status=reply.status_code,
            sender=label(route.sender),
            receiver=label(route.receiver),
            forward_seconds=forwarded,
        )


def is_proxy_id(text: str) -> bool:
    """The shape of the ids in hub URLs (``ProxyStore.create``), checked before any lookup."""
    return _PROXY_ID.fullmatch(text) is not None


def _pair(headers: Mapping[str, str], country: str, party: str) -> PartyKey | None:
    country_code, party_id = headers.get(country), headers.get(party)
    if not country_code and not party_id:
        return None
    if not country_code or not party_id:
        raise InvalidParametersError(f"{country} and {party} go together; one is missing")
    country_code, party_id = country_code.strip(), party_id.strip()
    if not _COUNTRY_CODE.fullmatch(country_code):
        raise InvalidParametersError(f"{country} must be 2 letters or digits")
    if not _PARTY_ID.fullmatch(party_id):
        raise InvalidParametersError(f"{party} must be 3 letters or digits")
    return party_key(country_code, party_id)


def _replace_field(body: bytes, name: str, value: str) -> bytes:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as e:  # inspect() read it already; this cannot happen
        raise NotJsonError(f"the body is not JSON: {e}") from e
    document[name] = value
    return orjson.dumps(document)


def _replace_query(query: str, name: str, value: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode([(k, value if k == name else v) for k, v in pairs])


def _seconds_until(moment: str | None) -> float:
    if not moment:
        return 0.0
    try:
        when = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    if when.tzinfo is None:  # no designator means UTC (2.2.1 "DateTime")
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
