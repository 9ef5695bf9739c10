"""The hub URLs that relay hands out in place of a platform's URL, so that calls through the hub
work with the tokens each side has: a command's or charging profile's ``response_url`` (2.2.1
"Commands module", "ChargingProfiles module"), the ``Link`` to the next page of a list (2.2.1
"Pagination"), a CDR's ``Location`` (2.2.1 "CDRs module", the POST of the Receiver interface).

The id in such a URL is unguessable, and only the platform it was handed to may use it; what it
stands for is kept in ``hub.store.proxies``.
"""

from __future__ import annotations

import math
import re
import urllib.parse
from collections.abc import Mapping

import orjson

from hub.errors import (
    InvalidParametersError,
    MethodNotAllowedError,
    NotFoundError,
    NotJsonError,
    ReceiverBrokenError,
    RefusedUrlError,
)
from hub.forward import PlatformClient
from hub.ocpi import headers as h
from hub.ocpi.calls import Facts
from hub.ocpi.lanes import Lane
from hub.ocpi.versions import V2_2_1
from hub.openrouting import reservation_seconds
from hub.records import Party, label
from hub.replies import Reply, response_timeout
from hub.routing import PlatformEntry, Target
from hub.settings import Settings
from hub.store.proxies import ProxyRoute, ProxyStore

# A command result can come until the CommandResponse's timeout; some slack for slow clocks.
CALLBACK_MARGIN = 60.0
# No result waits longer than this: a bound on what the hub keeps for a CPO that claims a
# timeout of centuries.
LONGEST_CALLBACK = 31 * 24 * 3600.0
# How long a rewritten next-page link keeps working.
PAGE_SECONDS = 3600.0
# How long a rewritten CDR Location keeps working: CDRs are fetched long after.
LOCATION_SECONDS = 90 * 24 * 3600.0

_PROXY_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
_LINK_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?', re.IGNORECASE)


def is_proxy_id(text: str) -> bool:
    """The shape of the ids in hub URLs (``ProxyStore.create``), checked before any lookup."""
    return _PROXY_ID.fullmatch(text) is not None


class Handouts:
    def __init__(self, settings: Settings, proxies: ProxyStore, client: PlatformClient) -> None:
        self._settings = settings
        self._proxies = proxies
        self._client = client

    def url(self, proxy_id: str) -> str:
        assert is_proxy_id(proxy_id)
        return f"{self._settings.base_url}/ocpi/{V2_2_1}/via/{proxy_id}"

    # --- a response_url in a call ----------------------------------------------------

    def check_response_url(self, url: str) -> None:
        """2001 for a ``response_url`` the hub would refuse to call with the result."""
        try:
            self._client.check(url)
        except RefusedUrlError as e:
            raise InvalidParametersError(f"response_url is refused: {e.reason}") from e

    async def swap_response_url(
        self,
        query: str,
        body: bytes,
        facts: Facts,
        caller: PlatformEntry,
        sender: Party,
        target: Target,
    ) -> tuple[str, bytes, str]:
        """The call's query and body with its ``response_url`` replaced by a one-time hub URL
        that leads to the original with the requester's token, and the hub URL's id."""
        assert facts.response_url
        route = ProxyRoute(
            kind="callback",
            url=facts.response_url,
            target=caller.id,
            caller=target.platform.id,
            module="commands" if facts.command else "chargingprofiles",
            methods=["POST"],
            sender=target.party.key,
            receiver=sender.key,
            once=facts.command != "RESERVE_NOW",
        )
        # Until the answer tells the command's timeout, keep it as long as the call may last.
        proxy_id = await self._proxies.create(
            route, self._settings.forward_timeout + CALLBACK_MARGIN
        )
        query, body = self.put_response_url(query, body, facts, proxy_id)
        return query, body, proxy_id

    def put_response_url(
        self, query: str, body: bytes, facts: Facts, proxy_id: str
    ) -> tuple[str, bytes]:
        """The call's query and body with the hub URL ``proxy_id`` as its ``response_url``."""
        hub_url = self.url(proxy_id)
        if facts.response_url_in_query:
            return _replace_query(query, "response_url", hub_url), body
        return query, _replace_field(body, "response_url", hub_url)

    async def keep_callback(self, proxy_id: str, facts: Facts, reply: Reply) -> None:
        """Keep a callback as long as its result may come, now that the answer tells."""
        await self._proxies.keep_for(proxy_id, self._callback_seconds(facts, reply))

    def _callback_seconds(self, facts: Facts, reply: Reply) -> float:
        """A reservation can be cancelled as long as the hub remembers it; other results come
        within the ``timeout`` of the CommandResponse or ChargingProfileResponse. Whatever the
        CPO says (a negative timeout, 1e308), the result can arrive for at least the margin and
        the hub URL lives no longer than ``LONGEST_CALLBACK``."""
        timeout = response_timeout(reply)
        if timeout is None or not math.isfinite(timeout):
            timeout = self._settings.forward_timeout
        seconds = min(max(0.0, timeout) + CALLBACK_MARGIN, LONGEST_CALLBACK)
        if facts.command == "RESERVE_NOW":
            seconds = max(seconds, reservation_seconds(facts.expiry_date))
        return seconds

    # --- URLs in a receiver's answer -------------------------------------------------

    async def swap_answer_urls(
        self,
        received: Mapping[str, str],
        lane: Lane,
        method: str,
        caller: PlatformEntry,
        sender: Party,
        target: Target,
    ) -> dict[str, str]:
        """Hub URLs for the next-page ``Link`` and the CDR ``Location`` among the receiver's
        answer headers (``received``, lower-case names), as headers for the sender."""
        swapped = {}
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
                sender=sender.key,
                receiver=target.party.key,
            )
            proxy_id = await self._proxies.create(page, PAGE_SECONDS)
            swapped[h.LINK] = f'<{self.url(proxy_id)}>; rel="next"'
        location = received.get(h.LOCATION)
        if location and lane.module == "cdrs" and method == "POST":
            self._check_given(location, "CDR location", target)
            stored = ProxyRoute(
                kind="location",
                url=location,
                target=target.platform.id,
                caller=caller.id,
                module="cdrs",
                methods=["GET"],
                sender=sender.key,
                receiver=target.party.key,
            )
            proxy_id = await self._proxies.create(stored, LOCATION_SECONDS)
            swapped[h.LOCATION] = self.url(proxy_id)
        return swapped

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

    # --- a call to a hub URL ---------------------------------------------------------

    async def route(self, proxy_id: str, caller_id: str, method: str) -> ProxyRoute:
        """What a hub URL stands for, when ``caller_id`` may call it with ``method``."""
        route = await self._proxies.get(proxy_id)
        if route is None or route.caller != caller_id:
            raise NotFoundError("unknown or expired hub URL")
        if method not in route.methods:
            raise MethodNotAllowedError(
                f"{method} is not possible on this hub URL", allowed=frozenset(route.methods)
            )
        return route

    async def used(self, proxy_id: str, route: ProxyRoute) -> None:
        """The call through a hub URL succeeded: a one-time URL is gone."""
        if route.once:
            await self._proxies.forget(proxy_id)


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
