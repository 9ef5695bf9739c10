"""Sending one queued message to its platform, and probing a platform's versions endpoint."""

from __future__ import annotations

import functools

from hub.delivery.messages import Message
from hub.errors import PermanentRefusalError, PlatformError
from hub.forward import PlatformClient, PlatformResponse, read_envelope
from hub.ocpi import headers as h
from hub.ocpi.paths import decode_segments, join
from hub.ocpi.status import SUCCESS
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import V2_1_1
from hub.records import Platform
from hub.store.cache import PlatformCache

_LATER = (408, 429)  # Request Timeout, Too Many Requests: "try again later"


@functools.lru_cache(maxsize=4096)
def _below(path: str) -> str:
    """A message's path below the endpoint, its ids checked and encoded again (as ``join``
    does): "/" and the segments, or "" for none. The same for every receiver of a broadcast,
    so worked out once (InvalidInputError: not a path of ids)."""
    return join("", decode_segments(path))


class Sender:
    def __init__(self, cache: PlatformCache, client: PlatformClient, probe_timeout: float) -> None:
        self._cache = cache
        self._client = client
        self._probe_timeout = probe_timeout

    async def send(self, platform: Platform, message: Message, url: str) -> None:
        """Send ``message`` to the platform's endpoint ``url`` (its module and interface).
        PermanentRefusalError: it can never be delivered; another HubError: it may pass later."""
        try:
            # The path was built by the hub from checked ids; read again, it can never leave
            # the endpoint, whatever the queue holds.
            below = _below(message.path)
            target = url.rstrip("/") + below if below else url
        except InvalidInputError as e:
            raise PermanentRefusalError(
                f"the message's path is not a path of ids: {e.message}"
            ) from e
        if message.query:
            target += f"?{message.query}"
        headers = {h.CORRELATION_ID: message.correlation_id}
        if platform.version == V2_1_1:
            pass  # 2.1.1 has no routing headers: the owner is in the path
        elif message.sender is not None:
            headers[h.FROM_COUNTRY_CODE], headers[h.FROM_PARTY_ID] = message.sender
        if message.receiver is not None and platform.version != V2_1_1:
            headers[h.TO_COUNTRY_CODE], headers[h.TO_PARTY_ID] = message.receiver
        token = (await self._cache.current()).outbound.get(platform.id)
        if token is None:
            raise PermanentRefusalError("the hub holds no token for this platform")
        response = await self._client.request(
            message.method,
            target,
            token=token,
            base64_encoded=platform.sends_base64,
            body=message.content,
            headers=headers,
        )
        judge(response)

    async def probe(self, platform: Platform) -> None:
        """GET the platform's versions: it answers, so it is back (or still there)."""
        token = (await self._cache.current()).outbound.get(platform.id)
        if platform.platform_versions_url is None or token is None:
            raise PlatformError("nothing to probe")
        response = await self._client.request(
            "GET",
            platform.platform_versions_url,
            token=token,
            base64_encoded=platform.sends_base64,
            timeout=self._probe_timeout,
        )
        if not 200 <= response.status < 300:
            raise PlatformError(f"versions answered HTTP {response.status}")


def judge(response: PlatformResponse) -> None:
    """Raise unless the receiver took the message: 4xx and OCPI 2xxx are for good, anything
    else (5xx, 3xxx, no envelope) may pass with a retry. So do HTTP 408 and 429, whatever
    OCPI status their body carries (a rate limiter's answer often says 2000)."""
    if response.status in _LATER:
        raise PlatformError(f"HTTP {response.status}: the receiver asks to try again later")
    if 400 <= response.status < 500:
        raise PermanentRefusalError(f"refused with HTTP {response.status}: {response.body[:200]!r}")
    envelope = read_envelope(response)
    if 2000 <= envelope.status_code < 3000:
        raise PermanentRefusalError(
            f"refused with OCPI {envelope.status_code}: {envelope.status_message}"
        )
    if response.status >= 300 or envelope.status_code != SUCCESS:
        raise PlatformError(f"HTTP {response.status}, OCPI {envelope.status_code}")
