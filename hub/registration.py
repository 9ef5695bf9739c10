"""The credentials handshake in both directions, and token rotation (2.2.1 "Credentials module";
2.1.1 credentials.md).

Tokens: a platform registers with token A (issued by the operator), then calls with token C, the
one the hub issues in the handshake. When the hub starts the handshake, the token it gives the
platform (B in the spec's words) plays the part of C here. The token the hub calls a platform with
is the platform's B (or C), kept as the platform's "outbound" token.

Versions: a platform that registers itself uses the version of the credentials URL it calls; when
the hub registers, it takes the highest version both speak, or the one the operator pinned. A
2.1.1 platform is one party (``hub.records.party_211``): its flat credentials are stored as that
granted party's CredentialsRole, and its roleless endpoints with the interface each stands for
(``hub.ocpi.versions.endpoints_211``), so that routing reads them as a 2.2.1 platform's.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Literal

import msgspec

from hub import metrics
from hub.discovery import Discoverer, Discovery, encodings
from hub.errors import (
    ConflictError,
    ForbiddenError,
    HubError,
    MethodNotAllowedError,
    PlatformError,
    UnauthorizedError,
)
from hub.forward import PlatformClient
from hub.ocpi.credentials import BusinessDetails, Credentials, Credentials230, CredentialsRole
from hub.ocpi.status import SUCCESS
from hub.ocpi.v211.credentials import Credentials as Credentials211
from hub.ocpi.versions import (
    CREDENTIALS,
    V2_1_1,
    V2_2_1,
    V2_3_0,
)
from hub.partners import Partners
from hub.policy import Policy, reachable_roles
from hub.records import (
    CONNECTED,
    PLANNED,
    SUSPENDED,
    Party,
    Platform,
    endpoint_url,
    party_211,
)
from hub.settings import Settings
from hub.store.cache import PlatformCache
from hub.store.platforms import Change, PlatformStore

# A credentials object of any version: which one says which version the handshake is in.
Offer = Credentials | Credentials211 | Credentials230

_credentials: dict[str, msgspec.json.Decoder[Offer]] = {
    V2_3_0: msgspec.json.Decoder(Credentials230),
    V2_2_1: msgspec.json.Decoder(Credentials),
    V2_1_1: msgspec.json.Decoder(Credentials211),
}
_encode = msgspec.json.Encoder()
# The label of a handshake that ended before a version was chosen.
NO_VERSION = "none"


def version_of(offer: Offer) -> str:
    if isinstance(offer, Credentials211):
        return V2_1_1
    return V2_3_0 if isinstance(offer, Credentials230) else V2_2_1


def roles_digest(roles: Iterable[CredentialsRole]) -> str:
    """What the hub told a 2.3.0 platform it can reach, as one comparable string: a change
    of it is what makes the hub send the platform a credentials PUT (hub.reachable)."""
    return hashlib.sha256(_encode.encode(sorted(roles, key=_role_order))).hexdigest()


def _role_order(role: CredentialsRole) -> tuple[str, str, str]:
    return (role.role, role.country_code, role.party_id)


@dataclass(frozen=True)
class _Offered:
    """What a credentials POST or PUT of the hub's brought back."""

    roles: list[CredentialsRole]
    theirs: str  # the platform's token for the hub
    issued: str  # the hub's token for the platform
    digest: str | None  # 2.3.0: the parties the hub listed (``roles_digest``)


@dataclass
class _Count:
    """The version a handshake is in, once known (its metric's ``version`` label)."""

    version: str = NO_VERSION


@contextlib.asynccontextmanager
async def _counted(kind: str, initiator: str, version: str | None) -> AsyncIterator[_Count]:
    """Count a handshake or rotation by how it ended (ok, or the error's OCPI status) and the
    version it was in."""
    count = _Count(version or NO_VERSION)
    try:
        yield count
    except HubError as e:
        metrics.HANDSHAKES.labels(kind, initiator, str(e.ocpi_status), count.version).inc()
        raise
    metrics.HANDSHAKES.labels(kind, initiator, "ok", count.version).inc()


class Registration:
    def __init__(
        self,
        settings: Settings,
        store: PlatformStore,
        client: PlatformClient,
        *,
        cache: PlatformCache | None = None,
        partners: Partners | None = None,
    ) -> None:
        """``cache`` and ``partners``: where the parties a 2.3.0 platform can reach are read
        from (None: from the store, every party reachable, as with agreements off)."""
        self._discoverer = Discoverer(settings, client)
        self._settings = settings
        self._store = store
        self._client = client
        self._cache = cache
        self._partners = partners

    def hub_credentials(
        self, token: str, version: str = V2_2_1, roles: list[CredentialsRole] | None = None
    ) -> Offer:
        """The hub's own credentials: in 2.2.1 a hub reports only itself, with role HUB; in
        2.1.1 it is the one flat party (2.1.1 credentials.md §2.1) with its own country code,
        party id and business details; in 2.3.0 it names itself in ``hub_party_id`` and lists
        ``roles``, the parties the platform can reach (``reachable``; 2.3.0 §7.3.1)."""
        s = self._settings
        details = BusinessDetails(name=s.business_name, website=s.business_website)
        url = f"{s.base_url}/ocpi/versions"
        if version == V2_1_1:
            return Credentials211(
                token=token,
                url=url,
                business_details=details,
                party_id=s.party_id,
                country_code=s.country_code,
            )
        if version == V2_3_0:
            listed = list(roles or [])
            if not listed:
                # 2.3.0 §7.3.1 wants at least one role, and 2.3.0 has no HUB role (§17.10):
                # with nobody to reach, the hub's own party stands there as OTHER, the party
                # that hub_party_id names (README: "OCPI 2.3.0 platforms").
                listed = [CredentialsRole("OTHER", details, s.party_id, s.country_code)]
            return Credentials230(
                token=token, url=url, hub_party_id=self._hub_party_id, roles=listed
            )
        role = CredentialsRole("HUB", details, s.party_id, s.country_code)
        return Credentials(token=token, url=url, roles=[role])

    @property
    def _hub_party_id(self) -> str:
        # 2.3.0 §7.3.1: "The two-letter country code and three-character party ID are
        # concatenated together in this field as one five-character string."
        return f"{self._settings.country_code}{self._settings.party_id}".upper()

    async def platforms(self) -> list[Platform]:
        """Every platform, read from the store (what other processes changed included)."""
        return await self._store.all()

    async def reachable(self, platform: Platform) -> list[CredentialsRole]:
        """The parties ``platform`` can reach through the hub (``hub.policy.reachable_roles``):
        the ``roles`` of the hub's 2.3.0 credentials."""
        if self._cache is not None:
            platforms = list((await self._cache.current()).platforms.values())
        else:
            platforms = await self._store.all()
        policy = await self._partners.policy() if self._partners is not None else Policy()
        hub = (self._settings.country_code.upper(), self._settings.party_id.upper())
        return reachable_roles(platforms, policy, platform, hub)

    async def answer(self, platform_id: str, token: str, version: str, *, sent: bool) -> Offer:
        """The hub's credentials for ``platform_id`` in ``version`` with ``token``. ``sent``: the
        platform takes them as its credentials now (a POST or PUT answered), so the roles listed
        are remembered as the ones it knows (``hub.reachable`` sends a PUT when they change)."""
        if version != V2_3_0:
            return self.hub_credentials(token, version)
        platform = await self._load(platform_id)
        roles = await self.reachable(platform)
        if sent:
            await self._store.set_roles_sent(platform_id, roles_digest(roles))
        return self.hub_credentials(token, version, roles)

    # --- the platform starts (hub as credentials receiver) ----------------------------

    async def accept(self, platform_id: str, offer: Offer, *, caller_base64: bool) -> str:
        """Credentials POST with token A: register the platform in the offer's version; returns
        its new token C."""
        async with self._handshake(platform_id, "register", "platform", version_of(offer)):
            platform = await self._load(platform_id)
            if platform.registered:
                raise MethodNotAllowedError(
                    "this platform is registered already; use PUT to update"
                )
            return await self._register_offer(platform, offer, caller_base64, by="platform")

    async def update(self, platform_id: str, offer: Offer, *, caller_base64: bool) -> str:
        """Credentials PUT: re-read the platform's endpoints and rotate its token. On another
        version's credentials URL it switches to that version (2.1.1 credentials.md §1.3;
        2.2.1 "Credentials module", PUT)."""
        async with self._handshake(platform_id, "update", "platform", version_of(offer)):
            platform = await self._load(platform_id)
            if not platform.registered:
                raise MethodNotAllowedError("this platform is not registered; use POST to register")
            return await self._register_offer(platform, offer, caller_base64, by=None)

    async def unregister(self, platform_id: str) -> None:
        """Credentials DELETE: forget the relationship; a new token A is needed to return."""
        async with self._handshake(platform_id, "unregister", "platform") as count:
            platform = await self._load(platform_id)
            if not platform.registered:
                raise MethodNotAllowedError("this platform is not registered")
            count.version = platform.version or NO_VERSION
            await self._store.revoke_tokens(platform_id)
            await self._store.update(platform_id, _forget_registration, outbound=None)

    async def _register_offer(
        self,
        platform: Platform,
        offer: Offer,
        caller_base64: bool,
        *,
        by: Literal["platform"] | None,
    ) -> str:
        version = version_of(offer)
        roles = self._roles(platform, offer)
        self._check_roles(platform, roles)
        # Toward a 2.1.1 platform the raw token first, whatever the caller sent (README: "OCPI
        # 2.1.1 platforms"): 2.1.1 tokens are not Base64-encoded (2.1.1 transport_and_format.md,
        # "Request format").
        preferred_base64 = caller_base64 if version != V2_1_1 else False
        found = await self._discoverer.discover(
            offer.url,
            offer.token,
            encodings(platform, preferred_base64),
            platform=platform,
            version=version,
        )
        token = await self._store.issue_token(platform.id, "C")
        await self._commit(
            platform.id,
            token,
            _learned(found, roles, by=by, removed=UnauthorizedError),
            outbound=offer.token,
        )
        return token

    # --- the hub starts (hub as credentials sender) -----------------------------------

    async def connect(self, platform_id: str, versions_url: str, token_a: str) -> Platform:
        """Run the handshake towards a platform that gave the operator its token A, in the
        highest version both speak or the one the operator pinned."""
        async with self._handshake(platform_id, "register", "hub") as count:
            platform = await self._load(platform_id)
            if platform.deleted:
                raise ConflictError("this platform was removed")
            if platform.status == SUSPENDED:
                raise ConflictError("this platform is suspended; resume it first")
            if platform.registered:
                raise ConflictError(
                    "this platform is registered already; rotate or remove it first"
                )
            # The version is known only once the versions are read: Base64 first (2.2.1 §4.1.2)
            # unless the platform is pinned to 2.1.1; discover() tries raw first on the version
            # details when 2.1.1 is chosen.
            found = await self._discoverer.discover(
                versions_url,
                token_a,
                encodings(platform, platform.version_pin != V2_1_1),
                platform=platform,
                version=None,
            )
            count.version = found.version
            url = found.url_of(CREDENTIALS)
            offered = await self._offer(platform, found, url, "POST", token_a)
            learned = _learned(found, offered.roles, by="hub", removed=ConflictError)
            stored = await self._commit(
                platform.id,
                offered.issued,
                learned,
                outbound=offered.theirs,
                goodbye=(url, offered.theirs, found.base64_encoded),
            )
            await self._told(platform.id, offered)
            return stored

    async def _told(self, platform_id: str, offered: _Offered) -> None:
        """Remember the parties a 2.3.0 platform was just told of (``update_roles``)."""
        if offered.digest is not None:
            await self._store.set_roles_sent(platform_id, offered.digest)

    async def rotate(self, platform_id: str) -> Platform:
        """Send a credentials PUT: the platform gets a new token for the hub and hands back a
        new one of its own, in the platform's current version and its credentials form."""
        async with self._handshake(platform_id, "rotate", "hub") as count:
            platform = await self._load(platform_id)
            return await self._put(platform, count)

    async def update_roles(self, platform_id: str) -> bool:
        """Send a 2.3.0 platform a credentials PUT when the parties it can reach are no longer
        the ones it was last told of (2.3.0 §7.1.4: credentials "or parts thereof" are updated
        by a PUT; README: "OCPI 2.3.0 platforms"). False when there was nothing to tell.

        Compared inside the handshake lock, against what the last successful handshake sent:
        of several hub processes that see the same change, one sends it. The PUT carries a new
        token, as a rotation does: the hub keeps only hashes of the tokens it issued, so it
        cannot send the current one again; and the platform answers a PUT with a new token of
        its own anyway (2.3.0 §7.2.3, PUT: "the server must generate a new credentials token")."""
        platform = await self._load(platform_id)
        if not _told_roles(platform):
            return False
        if await self._store.roles_sent(platform_id) == roles_digest(
            await self.reachable(platform)
        ):
            return False  # cheap check first: most changes concern other platforms
        async with self._handshake(platform_id, "roles", "hub") as count:
            platform = await self._load(platform_id)
            if not _told_roles(platform):
                return False
            sent = await self._store.roles_sent(platform_id)
            if sent == roles_digest(await self.reachable(platform)):
                return False
            await self._put(platform, count)
            return True

    async def _put(self, platform: Platform, count: _Count) -> Platform:
        """The hub's credentials PUT to a registered platform, in its version."""
        outbound = await self._store.outbound_token(platform.id)
        if not platform.registered or outbound is None:
            raise ConflictError("this platform is not registered")
        count.version = platform.version or V2_2_1
        url = endpoint_url(platform, CREDENTIALS, None)
        if url is None:
            raise ConflictError("this platform has no credentials endpoint")
        found = Discovery(
            version=platform.version or V2_2_1,
            versions_url=platform.platform_versions_url or "",
            endpoints=platform.endpoints,
            base64_encoded=platform.sends_base64,
        )
        offered = await self._offer(platform, found, url, "PUT", outbound)

        def rotated(fresh: Platform) -> Platform:
            _check_present(fresh, ConflictError)
            fresh.registered_roles = list(offered.roles)
            return fresh

        stored = await self._commit(
            platform.id,
            offered.issued,
            rotated,
            outbound=offered.theirs,
            goodbye=(url, offered.theirs, found.base64_encoded),
        )
        await self._told(platform.id, offered)
        return stored

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
    ) -> _Offered:
        """Send the hub's credentials (in ``found.version``'s form) with a freshly issued token;
        revoke it if that fails. Returns the roles the platform answered with, its token, the
        token issued, and (2.3.0) the digest of the parties the hub listed.

        The new token is valid before the request leaves: the platform calls the hub's versions
        endpoint with it while it handles the request.
        """
        listed = await self.reachable(platform) if found.version == V2_3_0 else None
        issued = await self._store.issue_token(platform.id, "C")
        try:
            body = _encode.encode(self.hub_credentials(issued, found.version, listed))
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
                theirs = _credentials[found.version].decode(envelope.data)
            except msgspec.ValidationError as e:
                raise PlatformError(f"credentials {method} to {url}: invalid answer: {e}") from e
            roles = self._roles(platform, theirs)
            try:
                self._check_roles(platform, roles)
            except ForbiddenError:
                await self._say_goodbye(url, theirs.token, found.base64_encoded)
                raise
        except BaseException:
            await self._store.revoke_token(platform.id, issued)
            raise
        digest = None if listed is None else roles_digest(listed)
        return _Offered(roles, theirs.token, issued, digest)

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

    @staticmethod
    def _roles(platform: Platform, offer: Offer) -> list[CredentialsRole]:
        """The roles an offer claims. A 2.1.1 offer names one party and no role: it claims the
        platform's one granted role, with the offer's party and business details, so that what
        is stored is what a 2.2.1 registration of that party stores."""
        if isinstance(offer, Credentials | Credentials230):
            return list(offer.roles)
        party = party_211(platform)
        if party is None:
            raise ForbiddenError(
                "OCPI 2.1.1 is for a platform of exactly one CPO or eMSP role; this platform "
                "has other roles"
            )
        return [
            CredentialsRole(party.role, offer.business_details, offer.party_id, offer.country_code)
        ]

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

    async def _load(self, platform_id: str) -> Platform:
        platform = await self._store.get(platform_id)
        if platform is None:
            raise ConflictError(f"no platform {platform_id}")
        return platform

    @contextlib.asynccontextmanager
    async def _handshake(
        self, platform_id: str, kind: str, initiator: str, version: str | None = None
    ) -> AsyncIterator[_Count]:
        """One handshake per platform at a time, counted by how it ended and its version."""
        async with (
            _counted(kind, initiator, version) as count,
            self._store.handshake(platform_id, self._lock_ttl),
        ):
            yield count

    @property
    def _lock_ttl(self) -> float:
        # Long enough for the slowest handshake: several calls, each bounded by the timeout.
        return self._settings.handshake_timeout * 4 + 5


def _told_roles(platform: Platform) -> bool:
    """The hub tells ``platform`` of the parties it can reach by a credentials PUT: it is a
    2.3.0 platform, registered and CONNECTED (an OFFLINE one is told when it is back: its
    return is a status change, and so a reason to compare again)."""
    return (
        platform.version == V2_3_0
        and platform.registered
        and not platform.deleted
        and platform.status == CONNECTED
    )


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
