"""What the hub's operator does to platforms: create, suspend, resume, remove, re-issue token A."""

from __future__ import annotations

import contextlib

import msgspec

from hub.delivery.queue import Queue
from hub.errors import ConflictError, HubError, InvalidParametersError, NotFoundError
from hub.forward import PlatformClient
from hub.ocpi.versions import CREDENTIALS, V2_1_1
from hub.policy import parse_limits
from hub.records import (
    CONNECTED,
    PLANNED,
    SUSPENDED,
    Party,
    Platform,
    TokenEncoding,
    endpoint_url,
    label,
    party_211,
)
from hub.settings import Settings
from hub.store.platforms import Change, PlatformStore


class Lifecycle:
    def __init__(
        self, settings: Settings, store: PlatformStore, client: PlatformClient, queue: Queue
    ) -> None:
        self._settings = settings
        self._store = store
        self._client = client
        self._queue = queue

    @property
    def versions_url(self) -> str:
        return f"{self._settings.base_url}/ocpi/versions"

    async def create(
        self, name: str, roles: list[Party], encoding: TokenEncoding
    ) -> tuple[Platform, str]:
        """A new PLANNED platform and its token A (shown once: only its hash is kept)."""
        return await self._store.create(name, roles, encoding)

    async def get(self, platform_id: str) -> Platform:
        platform = await self._store.get(platform_id)
        if platform is None:
            raise NotFoundError(f"no platform {platform_id}")
        return platform

    async def update(
        self,
        platform_id: str,
        *,
        name: str | None,
        encoding: TokenEncoding | None,
        rate_limits: dict[str, str] | msgspec.UnsetType | None = msgspec.UNSET,
        version_pin: str | msgspec.UnsetType | None = msgspec.UNSET,
        time_zone: str | msgspec.UnsetType | None = msgspec.UNSET,
    ) -> Platform:
        """``rate_limits``: module (or ``*``) -> rate, checked here; empty or None: the hub's
        ``--rate-limit`` again; UNSET: unchanged. ``version_pin``: the version the hub registers
        in when it starts the handshake (README: "OCPI 2.1.1 platforms"); None: the highest
        both speak; UNSET: unchanged. ``time_zone``: the default of a 2.1.1 CPO's Locations
        (README: "OCPI 2.1.1 platforms"); None: none; UNSET: unchanged."""
        limits: dict[str, str] | None = None
        if rate_limits is not msgspec.UNSET and rate_limits:
            try:
                parsed = parse_limits(f"{m}={r}" for m, r in rate_limits.items())
            except ValueError as e:
                raise InvalidParametersError(f"rate_limits: {e}") from None
            limits = {module: str(rate) for module, rate in sorted(parsed.items())}

        def rename(platform: Platform) -> Platform:
            if name is not None:
                platform.name = name
            if encoding is not None:
                platform.token_encoding = encoding
            if rate_limits is not msgspec.UNSET:
                platform.rate_limits = limits
            if version_pin is not msgspec.UNSET:
                if version_pin == V2_1_1 and party_211(platform) is None:
                    roles = ", ".join(f"{label(p)}/{p.role}" for p in platform.roles)
                    raise InvalidParametersError(
                        "version: 2.1.1 is for a platform of exactly one CPO or eMSP role; "
                        f"this one has {roles}"
                    )
                platform.version_pin = version_pin
            if time_zone is not msgspec.UNSET:
                platform.time_zone = time_zone
            return platform

        return await self._change(platform_id, rename)

    async def new_token_a(self, platform_id: str) -> str:
        """Replace the platform's token A, e.g. after it unregistered or lost the first."""
        platform = await self._live(platform_id)
        if platform.registered:
            raise ConflictError("this platform is registered; token A is only for registering")
        await self._store.revoke_tokens(platform_id, kinds=("A",))
        return await self._store.issue_token(platform_id, "A")

    async def suspend(self, platform_id: str) -> Platform:
        def suspend(platform: Platform) -> Platform:
            _check_live(platform)
            if platform.status != SUSPENDED:
                platform.status_before_suspend = platform.status
                platform.status = SUSPENDED
            return platform

        return await self._change(platform_id, suspend)

    async def resume(self, platform_id: str) -> Platform:
        def resume(platform: Platform) -> Platform:
            _check_live(platform)
            if platform.status == SUSPENDED:
                fallback = CONNECTED if platform.registered else PLANNED
                platform.status = platform.status_before_suspend or fallback
                platform.status_before_suspend = None
            return platform

        return await self._change(platform_id, resume)

    async def remove(self, platform_id: str) -> None:
        """Mark the platform removed (SUSPENDED, refused everywhere from then on), revoke every
        token, tell the platform (credentials DELETE, best effort), free its roles for another
        platform and drop its queue; the record stays. A removal cut short (a crash) is
        finished by the next one."""

        def remove(platform: Platform) -> Platform:
            platform.deleted = True
            platform.status = SUSPENDED
            return platform

        platform = await self._change(platform_id, remove)
        await self._store.revoke_tokens(platform_id)
        outbound = await self._store.outbound_token(platform_id)
        url = endpoint_url(platform, CREDENTIALS, None)
        if outbound is not None and url is not None:
            # The spec's way to say "stop all automated traffic"; the removal stands either way.
            with contextlib.suppress(HubError):
                await self._client.request(
                    "DELETE",
                    url,
                    token=outbound,
                    base64_encoded=platform.sends_base64,
                    timeout=self._settings.handshake_timeout,
                )
        await self._store.set_outbound_token(platform_id, None)
        await self._store.release_roles(platform)
        # Nothing queued for it will ever be delivered; its dead letters stay for the record.
        await self._queue.purge(platform_id)

    async def _live(self, platform_id: str) -> Platform:
        platform = await self.get(platform_id)
        _check_live(platform)
        return platform

    async def _change(self, platform_id: str, change: Change) -> Platform:
        """Apply ``change`` to the freshest record (compare-and-set, see PlatformStore.update)."""
        platform = await self._store.update(platform_id, change)
        if platform is None:
            raise NotFoundError(f"no platform {platform_id}")
        return platform


def _check_live(platform: Platform) -> None:
    if platform.deleted:
        raise ConflictError(f"platform {platform.id} was removed")
