"""The hub's outbound HTTP client: one pooled session per process, behind a small interface.

The rest of the hub calls ``PeerClient.request`` or ``PeerClient.ocpi`` and never sees aiohttp;
transport failures become ``ReceiverUnreachable`` (OCPI 4003) or ``ReceiverTimeout`` (4002) here,
and answers that are not OCPI become ``PeerError``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping

import aiohttp
import msgspec

from hub.errors import PeerError, ReceiverTimeout, ReceiverUnreachable
from hub.ocpi.envelope import Envelope

_decode_envelope = msgspec.json.Decoder(Envelope)


def authorization(token: str, *, base64_encoded: bool) -> str:
    """The Authorization header value: 2.2.1 wants Base64, many platforms want the raw token."""
    if base64_encoded:
        return "Token " + base64.b64encode(token.encode()).decode("ascii")
    return "Token " + token


class PeerResponse(msgspec.Struct, frozen=True):
    status: int
    headers: Mapping[str, str]
    body: bytes


class PeerClient:
    def __init__(self, *, timeout: float) -> None:
        self._timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300),
            # aiohttp would otherwise add a header the receiver did not ask for.
            skip_auto_headers=("User-Agent",),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        url: str,
        *,
        token: str,
        base64_encoded: bool,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> PeerResponse:
        if self._session is None:
            raise RuntimeError("PeerClient.start() was not called")
        sent = {
            "Authorization": authorization(token, base64_encoded=base64_encoded),
            "X-Request-ID": str(uuid.uuid4()),
            "X-Correlation-ID": str(uuid.uuid4()),
        }
        if body is not None:
            sent["Content-Type"] = "application/json"
        sent.update(headers or {})
        limit = aiohttp.ClientTimeout(total=timeout or self._timeout)
        try:
            async with self._session.request(
                method, url, data=body, headers=sent, timeout=limit
            ) as response:
                return PeerResponse(
                    status=response.status,
                    headers=dict(response.headers),
                    body=await response.read(),
                )
        except TimeoutError as e:
            raise ReceiverTimeout(f"{url} did not answer within {limit.total} s") from e
        except (aiohttp.ClientError, OSError, ValueError) as e:
            raise ReceiverUnreachable(f"cannot reach {url}: {e}") from e

    async def ocpi(
        self,
        method: str,
        url: str,
        *,
        token: str,
        base64_encoded: bool,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> tuple[PeerResponse, Envelope]:
        """A call whose answer must be an OCPI envelope (any status: the caller judges it)."""
        response = await self.request(
            method, url, token=token, base64_encoded=base64_encoded, body=body, timeout=timeout
        )
        try:
            return response, _decode_envelope.decode(response.body)
        except msgspec.DecodeError as e:
            raise PeerError(
                f"{method} {url} answered HTTP {response.status} without an OCPI envelope",
                http_status=response.status,
            ) from e
