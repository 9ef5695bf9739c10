"""Hub URLs that stand in for a platform's URL, so that calls through the hub work with the
tokens each side has: command and charging-profile ``response_url``s, the ``Link`` of the next
page of a list, and a CDR's ``Location`` (OCPI 2.2.1: "Transport and format", "Pagination";
the ``response_url`` of the Commands and ChargingProfiles modules; the CDRs module's POST).

The id in such a URL is unguessable, and only the platform it was handed to may use it.
"""

from __future__ import annotations

import secrets

import msgspec

from hub.store import keys
from hub.store.connection import RedisClient, call


class ProxyRoute(msgspec.Struct, kw_only=True):
    kind: str  # "callback", "page" or "location"
    url: str  # the platform's URL the hub URL stands for
    target: str  # the platform that serves `url` (the hub calls it with that platform's token)
    caller: str  # the only platform that may use the hub URL
    module: str
    methods: list[str]
    # OCPI-from and OCPI-to of the forwarded call: (country_code, party_id)
    sender: tuple[str, str]
    receiver: tuple[str, str]
    once: bool = False  # forgotten after the first successful use


_encode = msgspec.json.Encoder()
_decode = msgspec.json.Decoder(ProxyRoute)


class ProxyStore:
    def __init__(self, redis: RedisClient) -> None:
        self._redis = redis

    async def create(self, route: ProxyRoute, ttl: float) -> str:
        proxy_id = secrets.token_urlsafe(18)
        await call(self._redis.set(keys.proxy(proxy_id), _encode.encode(route), px=_ms(ttl)))
        return proxy_id

    async def get(self, proxy_id: str) -> ProxyRoute | None:
        raw = await call(self._redis.get(keys.proxy(proxy_id)))
        return None if raw is None else _decode.decode(raw)

    async def keep_for(self, proxy_id: str, ttl: float) -> None:
        await call(self._redis.pexpire(keys.proxy(proxy_id), _ms(ttl)))

    async def forget(self, proxy_id: str) -> None:
        await call(self._redis.delete(keys.proxy(proxy_id)))


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
