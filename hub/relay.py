"""Relaying one call of a functional module to the platform that receives it.

The steps: the sender from the token and OCPI-from (``routing.sender``), the call's facts from
its URL and body (``ocpi.calls``), the owner checks, the receiver from OCPI-to or, without it,
from what the hub learned of earlier calls (``hub.openrouting``), then one forward with the
receiver's token. URLs that only work with the receiver's token are replaced with hub URLs on
the way (``hub.handouts``), and a call to such a hub URL is relayed here too (``follow``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import time
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial

import msgspec
import orjson

from hub import metrics
from hub.bridge import COMMAND_TIMEOUT, CORE, Bridge, Withheld
from hub.broadcast import Broadcast
from hub.errors import (
    InvalidParametersError,
    NotFoundError,
    ReceiverBrokenError,
    ReceiverTimeoutError,
    ReceiverUnreachableError,
    RefusedUrlError,
    TooManyRequestsError,
    UnknownLocationError,
    from_validation,
)
from hub.forward import PlatformClient, PlatformResponse
from hub.handouts import Handouts, is_proxy_id
from hub.kept import Kept
from hub.ocpi import headers as h
from hub.ocpi.calls import inspect
from hub.ocpi.envelope import envelope
from hub.ocpi.lanes import LANES, Lane
from hub.ocpi.paths import join
from hub.ocpi.status import SUCCESS
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import RECEIVER, SENDER, V2_1_1, V2_2_1
from hub.openrouting import OpenRouting
from hub.partners import Partners
from hub.policy import CHECKED_ANSWERS, limit_for, retry_after, visible
from hub.rates import Rate
from hub.records import CONNECTED, Party, PartyKey, label, party_key
from hub.replies import Reply, read_reply, withhold
from hub.routing import (
    PlatformEntry,
    RoutingTable,
    Target,
    check_agreement,
    check_owner,
    header_party,
    receiver,
    sender,
)
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.directory import Directory
from hub.store.limits import RateLimits
from hub.store.platforms import Snapshot
from hub.store.proxies import ProxyStore
from hub.translate.commands import not_supported

# The web layer checks the shape of a hub URL's id with ``is_proxy_id`` before anything else.
__all__ = ["Answer", "Call", "Relay", "is_proxy_id"]

# Response headers of the receiver that the sender gets back (the others are hop-by-hop or
# describe the receiver's server). The routing headers are not among them: the hub writes them
# itself, naming the parties of this exchange as it knows them.
PASSED_BACK = ("content-type", h.TOTAL_COUNT, h.LIMIT)
# Values a pagination header may have: a count.
_COUNT = re.compile(r"[0-9]{1,18}")

log = logging.getLogger("hub.relay")


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
    # The version the platform spoke (its URL's), and, for a 2.1.1 call read up into 2.2.1,
    # what it sent: (method, query, body), passed as it is to 2.1.1 receivers.
    version: str = V2_2_1
    original: tuple[str, str, bytes] | None = None


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
    # The version the body is in: a 2.1.1 receiver's answer to a 2.1.1 call passes as it is.
    version: str = V2_2_1


class Relay:
    def __init__(
        self,
        settings: Settings,
        cache: PlatformCache,
        directory: Directory,
        proxies: ProxyStore,
        client: PlatformClient,
        broadcast: Broadcast,
        partners: Partners,
        limits: RateLimits,
        bridge: Bridge,
        kept: Kept,
    ) -> None:
        self._settings = settings
        self._bridge = bridge
        self._kept = kept
        self._partners = partners
        self._limits = limits
        self._default_rate = (
            None if settings.rate_limit is None else Rate.parse(settings.rate_limit)
        )
        self._broadcast = broadcast
        self._cache = cache
        self._open = OpenRouting(directory)
        self._handouts = Handouts(settings, proxies, client)
        self._client = client
        self._hub = party_key(settings.country_code, settings.party_id)
        self._table: tuple[Snapshot, RoutingTable] | None = None

    @property
    def hub(self) -> PartyKey:
        """The hub's own party, as OCPI-to names it for broadcasts and GET-all."""
        return self._hub

    async def table(self) -> tuple[Snapshot, RoutingTable]:
        snapshot = await self._cache.current()
        if self._table is None or self._table[0] is not snapshot:
            changed = None
            if self._table is not None:
                changed = self._cache.changed_since(self._table[0].version)
            if changed is None:
                platforms = {i: PlatformEntry.of(p) for i, p in snapshot.platforms.items()}
            else:
                # Only the platforms that changed: a table of 10,000 costs ~170 ms to build.
                platforms = dict(self._table[1].platforms) if self._table else {}
                for platform_id in changed:
                    record = snapshot.platforms.get(platform_id)
                    if record is None:
                        platforms.pop(platform_id, None)
                    else:
                        platforms[platform_id] = PlatformEntry.of(record)
            table = RoutingTable(
                platforms=platforms,
                granted=snapshot.granted,
                hub=self._hub,
                granted_at=snapshot.granted_at,
            )
            self._table = (snapshot, table)
        return self._table

    # --- the routed call --------------------------------------------------------------

    async def _admit(
        self, caller_id: str, call: Call
    ) -> tuple[Snapshot, RoutingTable, Lane, PlatformEntry, Party]:
        """What every routed call starts with: the caller within its rate limit, and the party
        it calls as (OCPI-from, one of its roles that may use the lane)."""
        snapshot, table = await self.table()
        lane = LANES[(call.module, call.interface)]
        caller = table.platforms[caller_id]
        await self._within_limit(caller, call.module)
        claimed = header_party(call.headers, h.FROM_COUNTRY_CODE, h.FROM_PARTY_ID)
        return snapshot, table, lane, caller, sender(caller, claimed, lane)

    async def relay(self, caller_id: str, call: Call) -> Answer:
        snapshot, table, lane, caller, party = await self._admit(caller_id, call)
        segments = list(call.segments)
        query = dict(urllib.parse.parse_qsl(call.query, keep_blank_values=True))
        try:
            facts = inspect(call.module, call.interface, call.method, segments, query, call.body)
        except InvalidInputError as e:
            raise from_validation(e) from e
        if facts.response_url is not None:
            self._handouts.check_response_url(facts.response_url)
        if lane.owner_in_url and facts.url_owner is not None:
            check_owner(party, facts.url_owner, "the URL")
        if facts.body_owner is not None:
            check_owner(party, facts.body_owner, "the body")

        policy = await self._partners.policy()
        named = header_party(call.headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID)
        if named == self._hub:
            if lane.interface == RECEIVER:
                status, headers, content = await self._broadcast.push(
                    table,
                    policy,
                    lane,
                    party,
                    caller_id,
                    call.method,
                    segments,
                    call.query,
                    call.body,
                    call.correlation_id,
                    original=(call.version, *call.original) if call.original else None,
                )
                await self._open.learn_owner(lane, call.method, segments, facts, party.key)
                await self._learn_contract(lane, call, party.key)
            else:
                status, headers, content = await self._broadcast.serve(
                    policy, lane, party, call.method, segments, call.query
                )
            mode = "broadcast" if lane.interface == RECEIVER else "served"
            metrics.ROUTING_OF(call.module, mode, "").inc()
            return Answer(status, headers, content, SUCCESS, label(party), label(self._hub))
        if named is not None:
            wanted = named
        else:
            wanted = await self._open.receiver(
                lane, party, facts, partner=partial(policy.reaches, party.key, module=lane.module)
            )
        target = receiver(table, wanted, lane, caller)
        check_agreement(policy, party, target, lane.module)
        token = snapshot.outbound.get(target.platform.id)
        if token is None:
            raise ReceiverUnreachableError(f"receiver {label(wanted)} has no token for the hub")

        url = join(target.url, segments)
        method, body, query_string = call.method, call.body, call.query
        callback: str | None = None
        if facts.response_url:
            query_string, body, callback = await self._handouts.swap_response_url(
                query_string, body, facts, caller, party, target
            )
        # The version layer (README: "OCPI 2.1.1 platforms"): a receiver of another version
        # than the core's gets the call in its version, the very one a sender of that version
        # sent, else the core's call written in it.
        version = target.platform.record.version or CORE
        foreign = version != CORE
        passed = foreign and call.version == version and call.original is not None
        if passed and call.original is not None:
            method, query_string, body = call.original
            # Extensions pass only where the operator allowed it for the pair.
            keep = policy.extensions(party.key, target.party.key)
            body = self._bridge.between(
                version, call.module, call.interface, method, segments, body, keep=keep
            )
            if callback is not None:
                query_string, body = self._handouts.put_response_url(
                    query_string, body, facts, callback
                )
        elif foreign:
            down = await self._bridge.from_core(
                version,
                call.module,
                call.interface,
                method,
                segments,
                query_string,
                body,
                receiver=target.party.key,
            )
            if isinstance(down, Withheld) and call.module == "commands":
                # A command 2.1.1 lacks (CANCEL_RESERVATION, or one it cannot be told):
                # NOT_SUPPORTED, and no result will follow (2.2.1 "Commands module").
                log.info("command to %s not sent: %s", label(target.party), down.why)
                content = envelope(not_supported(timeout=COMMAND_TIMEOUT))
                return Answer(
                    200,
                    {"content-type": "application/json"},
                    content,
                    SUCCESS,
                    label(party),
                    label(target.party),
                )
            if isinstance(down, Withheld):
                raise InvalidParametersError(
                    f"receiver {label(target.party)} speaks OCPI {version}, which cannot carry "
                    f"this call: {down.why}"
                )
            query_string, body = down
        if query_string:
            url = f"{url}?{query_string}"
        began = time.perf_counter()
        response = await self._forward(call, url, body, token, target, party, method=method)
        forwarded = time.perf_counter() - began
        metrics.FORWARD_DURATION_OF(call.module).observe(forwarded)
        if passed:
            content = self._bridge.between(
                version,
                call.module,
                call.interface,
                method,
                segments,
                response.body,
                answer=True,
                keep=policy.extensions(party.key, target.party.key),
            )
            response = msgspec.structs.replace(response, body=content)
        elif foreign:
            status, content = await self._bridge.answer_to_core(
                version,
                call.module,
                call.interface,
                call.method,
                segments,
                call.query,
                response.status,
                response.body,
                target.party.key,
            )
            response = msgspec.structs.replace(response, status=status, body=content)
        reply = read_reply(response, target.party)
        if call.method == "GET" and lane.interface == SENDER:
            response = _only_visible(response, reply, lane.module, party.key, target.party.key)
        answer = await self._answer(response, lane, call, caller, party, target)
        if 200 <= response.status < 300 and reply.status_code == SUCCESS:
            await self._open.learn(lane, call.method, segments, facts, party.key, target.party.key)
            await self._learn_contract(lane, call, party.key)
            if callback is not None:
                await self._handouts.keep_callback(callback, facts, reply)
            # Sessions and CDRs the eMSP took, kept for it to pull again (README: "Kept
            # sessions and CDRs"); other calls pass without their body being read.
            await self._kept.delivered(
                lane, call.method, segments, call.body, party.key, target.party.key
            )
        mode = "open" if named is None else "direct"
        metrics.ROUTING_OF(call.module, mode, "").inc()
        return dataclasses.replace(
            answer,
            version=version if passed else CORE,
            ocpi_status=reply.status_code,
            sender=label(party),
            receiver=label(target.party),
            forward_seconds=forwarded,
        )

    async def forward_as_sent(self, caller_id: str, call: Call, why: str) -> Answer:
        """A call the core's version cannot carry (``why``) that names its receiver: it goes
        as sent to a receiver of the sender's own version (2.3.0 values 2.2.1 lacks are 2.3.0
        values still), and is refused naming why toward any other (README: "OCPI 2.3.0
        platforms")."""
        snapshot, table, lane, caller, party = await self._admit(caller_id, call)
        segments = list(call.segments)
        if lane.owner_in_url and len(segments) >= 2:
            check_owner(party, party_key(segments[0], segments[1]), "the URL")
        named = header_party(call.headers, h.TO_COUNTRY_CODE, h.TO_PARTY_ID)
        if named is None or named == self._hub:
            # Open routing and the hub's own copies read the call in the core's version.
            raise InvalidParametersError(f"this call cannot be carried to OCPI {CORE}: {why}")
        policy = await self._partners.policy()
        target = receiver(table, named, lane, caller)
        check_agreement(policy, party, target, lane.module)
        version = target.platform.record.version or CORE
        if version != call.version:
            raise InvalidParametersError(
                f"receiver {label(target.party)} speaks OCPI {version}, which cannot carry "
                f"this call: {why}"
            )
        token = snapshot.outbound.get(target.platform.id)
        if token is None:
            raise ReceiverUnreachableError(f"receiver {label(named)} has no token for the hub")
        keep = policy.extensions(party.key, target.party.key)
        body = self._bridge.between(
            version, call.module, call.interface, call.method, segments, call.body, keep=keep
        )
        url = join(target.url, segments)
        if call.query:
            url = f"{url}?{call.query}"
        began = time.perf_counter()
        response = await self._forward(call, url, body, token, target, party)
        forwarded = time.perf_counter() - began
        metrics.FORWARD_DURATION_OF(call.module).observe(forwarded)
        content = self._bridge.between(
            version,
            call.module,
            call.interface,
            call.method,
            segments,
            response.body,
            answer=True,
            keep=keep,
        )
        response = msgspec.structs.replace(response, body=content)
        reply = read_reply(response, target.party)
        answer = await self._answer(response, lane, call, caller, party, target)
        metrics.ROUTING_OF(call.module, "direct", "").inc()
        return dataclasses.replace(
            answer,
            version=version,
            ocpi_status=reply.status_code,
            sender=label(party),
            receiver=label(target.party),
            forward_seconds=forwarded,
        )

    async def broadcast_as_sent(self, caller_id: str, call: Call, why: str) -> Answer:
        """A push to the hub that the core's version cannot carry (``why``): only the
        sender's own version receives it, as sent; nothing is kept for GET-all (README: "OCPI
        2.3.0 platforms")."""
        _, table, lane, _, party = await self._admit(caller_id, call)
        segments = list(call.segments)
        if len(segments) >= 2:
            check_owner(party, party_key(segments[0], segments[1]), "the URL")
        log.info(
            "%s %s of %s reaches %s platforms only: %s",
            call.method,
            call.module,
            label(party),
            call.version,
            why,
        )
        policy = await self._partners.policy()
        status, headers, content = await self._broadcast.push(
            table,
            policy,
            lane,
            party,
            caller_id,
            call.method,
            segments,
            call.query,
            None,
            call.correlation_id,
            original=(call.version, call.method, call.query, call.body),
        )
        metrics.ROUTING_OF(call.module, "broadcast", "").inc()
        return Answer(
            status, headers, content, SUCCESS, label(party), label(self._hub), version=call.version
        )

    async def _learn_contract(self, lane: Lane, call: Call, owner: PartyKey) -> None:
        """Keep the CdrToken of every token pushed and every session or CDR relayed: a 2.1.1
        Session or CDR names its token by contract id only (``hub.bridge``)."""
        if lane.interface != RECEIVER or call.method not in ("PUT", "POST"):
            return
        if lane.module not in ("tokens", "sessions", "cdrs"):
            return
        try:
            found = orjson.loads(call.body)
        except orjson.JSONDecodeError:
            return
        if isinstance(found, dict):
            await self._bridge.learn(lane.module, owner, found)

    async def _within_limit(self, caller: PlatformEntry, module: str) -> None:
        """429 when the caller is over its rate limit for ``module`` (README: "Rate limits");
        a platform without a limit costs no Redis round trip."""
        rate = limit_for(module, caller.limits, self._default_rate)
        if rate is None:
            return
        wait = await self._limits.take(caller.id, module, rate)
        if wait > 0:
            metrics.RATE_LIMITED.labels(module).inc()
            raise TooManyRequestsError(
                f"over the rate limit of {rate} for {module}; retry in {wait:.1f} s",
                retry_after=retry_after(wait),
            )

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
        method: str | None = None,
    ) -> PlatformResponse:
        """One forwarded call. ``given``: ``url`` came in an earlier answer or call (a next page,
        a CDR location, a response_url) rather than from the receiver's endpoints."""
        sent = {h.CORRELATION_ID: call.correlation_id}
        if target.platform.record.version != V2_1_1:
            # 2.1.1 has no routing headers: the owner is in the URL (2.1.1 transport_and_format.md).
            sent[h.FROM_COUNTRY_CODE] = party.country_code
            sent[h.FROM_PARTY_ID] = party.party_id
            sent[h.TO_COUNTRY_CODE] = target.party.country_code
            sent[h.TO_PARTY_ID] = target.party.party_id
        try:
            return await self._client.request(
                method or call.method,
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
        back.update(
            await self._handouts.swap_answer_urls(
                received, lane, call.method, caller, party, target
            )
        )
        return Answer(response.status, back, response.body)

    # --- a call to a hub URL that stands for a platform's URL -------------------------

    async def follow(self, caller_id: str, proxy_id: str, call: Call) -> Answer:
        """A call to a hub URL handed out earlier: a command or charging-profile result, the
        next page of a list, a CDR's Location."""
        route = await self._handouts.route(proxy_id, caller_id, call.method)
        snapshot, table = await self.table()
        target = table.platforms.get(route.target)
        token = snapshot.outbound.get(route.target)
        if target is None or token is None or target.status != CONNECTED:
            raise ReceiverUnreachableError(f"receiver {label(route.receiver)} is not connected")
        party = Party(route.sender[0], route.sender[1], "")
        receiving = Party(route.receiver[0], route.receiver[1], "")
        destination = Target(target, receiving, route.url)
        # The version layer: a command result between a 2.1.1 and a 2.2.1 platform, a page or
        # a CDR of a 2.1.1 platform for a 2.2.1 one, or the reverse (README: "OCPI 2.1.1
        # platforms").
        calling = table.platforms[caller_id].record.version or CORE
        version = target.record.version or CORE
        interface = SENDER if route.kind == "callback" else RECEIVER
        body = call.body
        if route.kind == "callback" and calling != version and body:
            # Through the core's form: from the caller's version, then into the receiver's.
            up = await self._bridge.to_core(
                calling, route.module, SENDER, "POST", [], "", body, route.sender
            )
            written = (
                up
                if isinstance(up, Withheld)
                else await self._bridge.from_core(
                    version, route.module, SENDER, "POST", [], "", up[2]
                )
            )
            if isinstance(written, Withheld):
                raise InvalidParametersError(f"the result cannot be carried: {written.why}")
            body = written[1]
        began = time.perf_counter()
        response = await self._forward(call, route.url, body, token, destination, party, given=True)
        forwarded = time.perf_counter() - began
        metrics.FORWARD_DURATION_OF(route.module).observe(forwarded)
        if calling != version:
            status, content = await self._bridge.answer_to_core(
                version,
                route.module,
                interface,
                call.method,
                [],
                "",
                response.status,
                response.body,
                route.receiver,
            )
            status, content = await self._bridge.answer_from_core(
                calling, route.module, interface, call.method, status, content
            )
            response = msgspec.structs.replace(response, status=status, body=content)
        reply = read_reply(response, receiving)
        if route.kind in ("page", "location"):
            response = _only_visible(response, reply, route.module, route.sender, route.receiver)
        metrics.ROUTING_OF(route.module, route.kind, "").inc()
        lane = LANES[(route.module, SENDER if route.kind == "callback" else RECEIVER)]
        answer = await self._answer(
            response, lane, call, table.platforms[caller_id], party, destination
        )
        if 200 <= response.status < 300:
            await self._handouts.used(proxy_id, route)
        return dataclasses.replace(
            answer,
            ocpi_status=reply.status_code,
            sender=label(route.sender),
            receiver=label(route.receiver),
            forward_seconds=forwarded,
        )


def _only_visible(
    response: PlatformResponse, reply: Reply, module: str, caller: PartyKey, asked: PartyKey
) -> PlatformResponse:
    """The receiver's answer to a GET without what is not the caller's to see
    (``hub.policy.visible``); one object that is not: 404, as if absent."""
    if module not in CHECKED_ANSWERS or reply.status_code != SUCCESS:
        return response
    if not 200 <= response.status < 300:
        return response
    body, removed, refused = withhold(response.body, partial(visible, module, caller, asked))
    if removed:
        metrics.WITHHELD.labels(module).inc(removed)
        log.warning(
            "receiver %s answered %s with %d %s that are not theirs to see; withheld",
            label(asked),
            label(caller),
            removed,
            module,
        )
    if refused:
        error = UnknownLocationError if module == "locations" else NotFoundError
        raise error(f"receiver {label(asked)} has no such {module[:-1]}")
    return msgspec.structs.replace(response, body=body)
