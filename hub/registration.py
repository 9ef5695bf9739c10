"""The credentials handshake in both directions, and token rotation (2.2.1 "Credentials module").

Tokens: a platform registers with token A (issued by the operator), then calls with token C, the
one the hub issues in the handshake. When the hub starts the handshake, the token it gives the
platform (B in the spec's words) plays the part of C here. The token the hub calls a platform with
is the platform's B (or C), kept as the platform's "outbound" token.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable
from typing import Literal

import msgspec

from hub import metrics
from hub.errors import (
    ClientApiUnusableError,
    ConflictError,
    ForbiddenError,
    HubError,
    MethodNotAllowedError,
    NoMatchingEndpointsError,
    PlatformError,
    RefusedUrlError,
    UnauthorizedError,
    UnsupportedVersionError,
)
from hub.forward import PlatformClient
from hub.ocpi.credentials import BusinessDetails, Credentials, CredentialsRole
from hub.ocpi.status import SUCCESS
from hub.ocpi.versions import (
    CREDENTIALS,
    FUNCTIONAL_MODULES,
    V2_2_1,
    Endpoint,
    Version,
    VersionDetails,
    find_endpoint,
)
from hub.records import CONNECTED, PLANNED, SUSPENDED, Party, Platform, endpoint_url
from hub.settings import Settings
from hub.store.platforms import Change, PlatformStore

_versions = msgspec.json.Decoder(list[Version])
_details = msgspec.json.Decoder(VersionDetails)
_credentials = msgspec.json.Decoder(Credentials)
_encode = msgspec.json.Encoder()


class Discovery(msgspec.Struct, frozen=True):
    """What the hub learned by reading a platform's versions and version details."""

    version: str
    versions_url: str
    endpoints: list[Endpoint]
    base64_encoded: bool

    def url_of(self, module: str) -> str:
        url = find_endpoint(self.endpoints, module, None)
        assert url is not None, "discover() checked that the endpoint is there"
        return url


@contextlib.asynccontextmanager
async def _counted(kind: str, initiator: str) -> AsyncIterator[None]:
    """Count a handshake or rotation by how it ended (ok, or the error's OCPI status)."""
    try:
        yield
    except HubError as e:
        metrics.HANDSHAKES.labels(kind, initiator, str(e.ocpi_status)).inc()
        raise
    metrics.HANDSHAKES.labels(kind, initiator, "ok").inc()


class Registration:
    def __init__(self, settings: Settings, store: PlatformStore, client: PlatformClient) -> None:
        self._settings = settings
        self._store = store
        self._client = client

    def hub_credentials(self, token: str) -> Credentials:
        """The hub's own credentials: in 2.2.1 a hub reports only itself, with role HUB."""
        s = self._settings
        details = BusinessDetails(name=s.business_name, website=s.business_website)
        role = CredentialsRole("HUB", details, s.party_id, s.country_code)
        return Credentials(token=token, url=f"{s.base_url}/ocpi/versions", roles=[role])

    # --- the platform starts (hub as credentials receiver) ----------------------------

    async def accept(self, platform_id: str, offer: Credentials, *, caller_base64: bool) -> str:
        """Credentials POST with token A: register the platform; returns its new token C."""
        async with (
            _counted("register", "platform"),
            self._store.handshake(platform_id, self._lock_ttl),
        ):
            platform = await self._load(platform_id)
            if platform.registered:
                raise MethodNotAllowedError(
                    "this platform is registered already; use PUT to update"
                )
            return await self._register_offer(platform, offer, caller_base64, by="platform")

    async def update(self, platform_id: str, offer: Credentials, *, caller_base64: bool) -> str:
        """Credentials PUT: re-read the platform's endpoints and rotate its token."""
        async with (
            _counted("update", "platform"),
            self._store.handshake(platform_id, self._lock_ttl),
        ):
            platform = await self._load(platform_id)
            if not platform.registered:
                raise MethodNotAllowedError("this platform is not registered; use POST to register")
            return await self._register_offer(platform, offer, caller_base64, by=None)

    async def unregister(self, platform_id: str) -> None:
        """Credentials DELETE: forget the relationship; a new token A is needed to return."""
        async with (
            _counted("unregister", "platform"),
            self._store.handshake(platform_id, self._lock_ttl),
        ):
            platform = await self._load(platform_id)
            if not platform.registered:
                raise MethodNotAllowedError("this platform is not registered")
            await self._store.revoke_tokens(platform_id)
            await self._store.update(platform_id, _forget_registration, outbound=None)

    async def _register_offer(
        self,
        platform: Platform,
        offer: Credentials,
        caller_base64: bool,
        *,
        by: Literal["platform"] | None,
    ) -> str:
        self._check_roles(platform, offer.roles)
        found = await self.discover(
            offer.url, offer.token, self._encodings(platform, caller_base64)
        )
        token = await self._store.issue_token(platform.id, "C")
        await self._commit(
            platform.id,
            token,
            _learned(found, offer.roles, by=by, removed=UnauthorizedError),
            outbound=offer.token,
        )
        return token

    # --- the hub starts (hub as credentials sender) -----------------------------------

    async def connect(self, platform_id: str, versions_url: str, token_a: str) -> Platform:
        """Run the handshake towards a platform that gave the operator its token A."""
        async with self._handshake(platform_id, "register", "hub"):
            platform = await self._load(platform_id)
            if platform.deleted:
                raise ConflictError("this platform was removed")
            if platform.status == SUSPENDED:
                raise ConflictError("this platform is suspended; resume it first")
            if platform.registered:
                raise ConflictError(
                    "this platform is registered already; rotate or remove it first"
                )
            found = await self.discover(versions_url, token_a, self._encodings(platform, True))
            url = found.url_of(CREDENTIALS)
            theirs, token = await self._offer(platform, found, url, "POST", token_a)
            learned = _learned(found, theirs.roles, by="hub", removed=ConflictError)
            return await self._commit(
                platform.id,
                token,
                learned,
                outbound=theirs.token,
                goodbye=(url, theirs.token, found.base64_encoded),
            )

    async def rotate(self, platform_id: str) -> Platform:
        """Send a credentials PUT: the platform gets a new token for the hub and hands back a
        new one of its own."""
        async with self._handshake(platform_id, "rotate", "hub"):
            platform = await self._load(platform_id)
            outbound = await self._store.outbound_token(platform_id)
            if not platform.registered or outbound is None:
                raise ConflictError("this platform is not registered")
            url = endpoint_url(platform, CREDENTIALS, None)
            if url is None:
                raise ConflictError("this platform has no credentials endpoint")
            found = Discovery(
                version=platform.version or V2_2_1,
                versions_url=platform.platform_versions_url or "",
                endpoints=platform.endpoints,
                base64_encoded=platform.sends_base64,
            )
            theirs, token = await self._offer(platform, found, url, "PUT", outbound)

            def rotated(fresh: Platform) -> Platform:
                _check_present(fresh, ConflictError)
                fresh.registered_roles = list(theirs.roles)
                return fresh

            return await self._commit(
                platform.id,
                token,
                rotated,
                outbound=theirs.token,
                goodbye=(url, theirs.token, found.base64_encoded),
            )

    async def _commit(
        self,
        platform_id: str,
        token: str,
        change: Change,
        *,
        outbound: str,
        goodbye: tuple[str, str, bool] | None = None,
    ) -> Platform:
        """Store what a handshake learned in the freshest record, with the platform's token,
        and revoke the platform's other tokens; or, when it failed (the platform was removed
        meanwhile), revoke the token the handshake issued and tell the platform goodbye."""
        try:
            stored = await self._store.update(platform_id, change, outbound=outbound)
            if stored is None:
                raise ConflictError(f"no platform {platform_id}")
        except BaseException as e:
            await self._store.revoke_token(platform_id, token)
            # Removed meanwhile: undo the registration the platform made. (Not when Redis
            # failed: that says nothing about the relationship, which a retry may repair.)
            if goodbye is not None and isinstance(e, ConflictError | UnauthorizedError):
                await self._say_goodbye(*goodbye)
            raise
        # Token A dies with a successful registration, an old C with a successful update.
        await self._store.revoke_tokens(platform_id, keep=token)
        return stored

    async def _offer(
        self, platform: Platform, found: Discovery, url: str, method: str, token: str
    ) -> tuple[Credentials, str]:
        """Send the hub's credentials with a freshly issued token; revoke it if that fails.

        The new token is valid before the request leaves: the platform calls the hub's versions
        endpoint with it while it handles the request.
        """
        issued = await self._store.issue_token(platform.id, "C")
        try:
            body = _encode.encode(self.hub_credentials(issued))
            response, envelope = await self._client.ocpi(
                method,
                url,
                token=token,
                base64_encoded=found.base64_encoded,
                body=body,
                timeout=self._settings.handshake_timeout,
            )
            if envelope.status_code != SUCCESS or response.status >= 300:
                raise PlatformError(
                    f"credentials {method} to {url} was refused: HTTP {response.status}, "
                    f"OCPI {envelope.status_code} {envelope.status_message or ''}".rstrip()
                )
            try:
                theirs = _credentials.decode(envelope.data)
            except msgspec.ValidationError as e:
                raise PlatformError(f"credentials {method} to {url}: invalid answer: {e}") from e
            try:
                self._check_roles(platform, theirs.roles)
            except ForbiddenError:
                await self._say_goodbye(url, theirs.token, found.base64_encoded)
                raise
        except BaseException:
            await self._store.revoke_token(platform.id, issued)
            raise
        return theirs, issued

    async def _say_goodbye(self, url: str, token: str, base64_encoded: bool) -> None:
        """Undo a registration the platform made but the hub will not keep (best effort)."""
        with contextlib.suppress(HubError):
            await self._client.request(
                "DELETE",
                url,
                token=token,
                base64_encoded=base64_encoded,
                timeout=self._settings.handshake_timeout,
            )

    # --- shared steps -----------------------------------------------------------------

    async def discover(self, versions_url: str, token: str, encodings: Iterable[bool]) -> Discovery:
        """Read versions (trying the token encodings in order), pick 2.2.1, read its details.

        3001 when the platform's API cannot be used, 3002 without 2.2.1, 3003 when endpoints
        the hub needs are missing (2.2.1 "Credentials module", registration errors).
        """
        failure = "no attempt"
        for base64_encoded in encodings:
            try:
                versions = await self._fetch(versions_url, token, base64_encoded)
            except PlatformError as e:
                failure = str(e)
                continue
            break
        else:
            raise ClientApiUnusableError(f"cannot read the versions at {versions_url}: {failure}")
        try:
            offered = _versions.decode(versions)
        except msgspec.ValidationError as e:
            raise ClientApiUnusableError(f"the versions at {versions_url} are invalid: {e}") from e
        chosen = next((v for v in offered if v.version == V2_2_1), None)
        if chosen is None:
            listed = ", ".join(v.version for v in offered) or "none"
            raise UnsupportedVersionError(
                f"no common version: the hub speaks 2.2.1, you offer {listed}"
            )
        try:
            details = _details.decode(await self._fetch(chosen.url, token, base64_encoded))
        except (PlatformError, msgspec.ValidationError) as e:
            raise ClientApiUnusableError(
                f"cannot read the version details at {chosen.url}: {e}"
            ) from e
        missing = _missing_endpoints(details.endpoints)
        if missing:
            raise NoMatchingEndpointsError(f"the version details at {chosen.url} lack {missing}")
        for endpoint in details.endpoints:
            # The hub calls these later with its token: refuse now what it would never call.
            try:
                self._client.check(endpoint.url)
            except RefusedUrlError as e:
                raise ClientApiUnusableError(
                    f"the {endpoint.identifier} endpoint's URL is refused: {e.reason}"
                ) from e
        return Discovery(V2_2_1, versions_url, details.endpoints, base64_encoded)

    async def _fetch(self, url: str, token: str, base64_encoded: bool) -> msgspec.Raw:
        try:
            # The versions and version details URLs are the platform's word: refused before
            # anything is sent when the URL alone says the hub will not call it.
            self._client.check(url)
            response, envelope = await self._client.ocpi(
                "GET",
                url,
                token=token,
                base64_encoded=base64_encoded,
                timeout=self._settings.handshake_timeout,
            )
        except PlatformError:
            raise
        except HubError as e:
            # One attempt failed (perhaps only its token encoding): the caller tries the next.
            raise PlatformError(e.message) from e
        if response.status >= 300 or envelope.status_code != SUCCESS:
            raise PlatformError(f"HTTP {response.status}, OCPI status {envelope.status_code}")
        return envelope.data

    @staticmethod
    def _check_roles(platform: Platform, roles: Iterable[CredentialsRole]) -> None:
        """Only roles the operator granted may be claimed (README: "Admin API"); nothing is stored
        when one is not."""
        granted = set(platform.roles)
        for role in roles:
            if Party.of(role.country_code, role.party_id, role.role) not in granted:
                raise ForbiddenError(
                    f"role {role.country_code}/{role.party_id}/{role.role} was not granted "
                    "to this platform by the hub's operator"
                )

    @staticmethod
    def _encodings(platform: Platform, preferred_base64: bool) -> list[bool]:
        if platform.token_encoding != "auto":
            return [platform.token_encoding == "base64"]
        return [preferred_base64, not preferred_base64]

    async def _load(self, platform_id: str) -> Platform:
        platform = await self._store.get(platform_id)
        if platform is None:
            raise ConflictError(f"no platform {platform_id}")
        return platform

    @contextlib.asynccontextmanager
    async def _handshake(self, platform_id: str, kind: str, initiator: str) -> AsyncIterator[None]:
        """One handshake per platform at a time, counted by how it ended."""
        async with _counted(kind, initiator), self._store.handshake(platform_id, self._lock_ttl):
            yield

    @property
    def _lock_ttl(self) -> float:
        # Long enough for the slowest handshake: several calls, each bounded by the timeout.
        return self._settings.handshake_timeout * 4 + 5


def _missing_endpoints(endpoints: list[Endpoint]) -> str:
    identifiers = {e.identifier for e in endpoints}
    if CREDENTIALS not in identifiers:
        return "the credentials endpoint"
    if not identifiers.intersection(FUNCTIONAL_MODULES):
        return "any functional module endpoint"
    return ""


def _learned(
    found: Discovery,
    roles: list[CredentialsRole],
    *,
    by: Literal["platform", "hub"] | None,
    removed: type[HubError],
) -> Change:
    """The change a successful handshake makes: only what it learned, so that what the
    operator changed meanwhile stays (a platform suspended meanwhile stays SUSPENDED, and is
    CONNECTED when resumed). ``removed``: the error when the platform was removed meanwhile."""

    def learn(platform: Platform) -> Platform:
        _check_present(platform, removed)
        platform.version = found.version
        platform.platform_versions_url = found.versions_url
        platform.endpoints = found.endpoints
        platform.detected_base64 = found.base64_encoded
        platform.registered_roles = list(roles)
        if by is not None:
            platform.registered_by = by
        _arrive(platform, CONNECTED)
        return platform

    return learn


def _forget_registration(platform: Platform) -> Platform:
    platform.version = None
    platform.platform_versions_url = None
    platform.endpoints = []
    platform.registered_roles = []
    platform.registered_by = None
    _arrive(platform, PLANNED)
    return platform


def _arrive(platform: Platform, status: str) -> None:
    """Move to ``status``; a suspended platform stays suspended and moves there on resume."""
    if platform.status == SUSPENDED:
        platform.status_before_suspend = status
    else:
        platform.status = status


def _check_present(platform: Platform, error: type[HubError]) -> None:
    if platform.deleted:
        raise error("this platform was removed during the credentials handshake")
