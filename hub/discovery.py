"""Reading a platform's versions and version details, the first step of every credentials
handshake (2.2.1 "Versions module"; 2.1.1 version_information_endpoint.md): which version the
handshake is in, which token encoding the platform takes, and which endpoints it has, each
with the interface it stands for. The refusals are the credentials module's: 3001, 3002, 3003.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from hub.errors import (
    ClientApiUnusableError,
    HubError,
    NoMatchingEndpointsError,
    PlatformError,
    RefusedUrlError,
    UnsupportedVersionError,
)
from hub.forward import PlatformClient
from hub.ocpi.status import SUCCESS
from hub.ocpi.versions import (
    CREDENTIALS,
    FUNCTIONAL_MODULES,
    REQUIRED_211,
    V2_1_1,
    Endpoint,
    Version,
    VersionDetails,
    endpoints_211,
    find_endpoint,
)
from hub.records import Platform, party_211, versions_for
from hub.settings import Settings

_versions = msgspec.json.Decoder(list[Version])
_details = msgspec.json.Decoder(VersionDetails)


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


class Discoverer:
    def __init__(self, settings: Settings, client: PlatformClient) -> None:
        self._settings = settings
        self._client = client

    async def discover(
        self,
        versions_url: str,
        token: str,
        encodings: Sequence[bool],
        *,
        platform: Platform,
        version: str | None,
    ) -> Discovery:
        """Read versions (trying the token encodings in order), pick the version (``version``,
        else the operator's pin, else the highest both speak), read its details.

        3001 when the platform's API cannot be used, 3002 without a common version, 3003 when
        endpoints the hub needs are missing (2.2.1 "Credentials module", registration errors;
        2.1.1 credentials.md §3.5, §3.6).
        """
        failure = "no attempt"
        refused: list[bool] = []
        for base64_encoded in encodings:
            try:
                versions = await self._fetch(versions_url, token, base64_encoded)
            except PlatformError as e:
                failure = str(e)
                refused.append(base64_encoded)
                continue
            break
        else:
            raise ClientApiUnusableError(f"cannot read the versions at {versions_url}: {failure}")
        try:
            offered = _versions.decode(versions)
        except msgspec.ValidationError as e:
            raise ClientApiUnusableError(f"the versions at {versions_url} are invalid: {e}") from e
        chosen = _choose(platform, offered, version)
        tries = [base64_encoded]
        if chosen.version == V2_1_1 and platform.token_encoding == "auto":
            # Toward 2.1.1 the raw token first (2.1.1 transport_and_format.md, "Request
            # format": no Base64), also when the versions answered to Base64 (a hub-started
            # handshake tries Base64 first, before it knows the version): what works here is
            # what the hub sends from now on.
            tries = [e for e in (False, True) if e not in refused]
        try:
            raw_details, base64_encoded = await self._fetch_any(chosen.url, token, tries)
            details = _details.decode(raw_details)
        except (PlatformError, msgspec.ValidationError) as e:
            raise ClientApiUnusableError(
                f"cannot read the version details at {chosen.url}: {e}"
            ) from e
        if chosen.version == V2_1_1:
            party = party_211(platform)
            assert party is not None, "_choose() offers 2.1.1 only to a platform that can use it"
            endpoints = endpoints_211(details.endpoints, party.role)
            missing = _missing_211(endpoints, party.role)
        else:
            endpoints = details.endpoints
            missing = _missing_endpoints(endpoints)
        if missing:
            raise NoMatchingEndpointsError(f"the version details at {chosen.url} lack {missing}")
        for endpoint in endpoints:
            # The hub calls these later with its token: refuse now what it would never call.
            try:
                self._client.check(endpoint.url)
            except RefusedUrlError as e:
                raise ClientApiUnusableError(
                    f"the {endpoint.identifier} endpoint's URL is refused: {e.reason}"
                ) from e
        return Discovery(chosen.version, versions_url, endpoints, base64_encoded)

    async def _fetch_any(
        self, url: str, token: str, encodings: Sequence[bool]
    ) -> tuple[msgspec.Raw, bool]:
        """The first answer of ``url`` to one of the token encodings, and that encoding."""
        failure = PlatformError("no token encoding left to try")
        for base64_encoded in encodings:
            try:
                return await self._fetch(url, token, base64_encoded), base64_encoded
            except PlatformError as e:
                failure = e
        raise failure

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


def encodings(platform: Platform, preferred_base64: bool) -> list[bool]:
    """The token encodings to try toward ``platform``, in order: the operator's setting, else
    ``preferred_base64`` first and the other after it."""
    if platform.token_encoding != "auto":
        return [platform.token_encoding == "base64"]
    return [preferred_base64, not preferred_base64]


def _choose(platform: Platform, offered: list[Version], version: str | None) -> Version:
    """The version of the handshake among those the platform ``offered``: ``version`` (the one
    of the credentials URL the platform called), else the operator's pin, else the highest the
    hub offers this platform (``versions_for``); 3002 when the platform does not offer it."""
    usable = versions_for(platform)
    if version is not None:
        wanted, why = [version], f"you registered at the hub's {version} credentials endpoint"
    elif platform.version_pin is not None:
        pin = platform.version_pin
        wanted, why = [pin], f"the hub's operator pinned this platform to {pin}"
    else:
        wanted, why = usable, f"the hub speaks {', '.join(usable)} with this platform"
    listed = {v.version: v for v in reversed(offered)}  # the first of a version listed twice
    for candidate in wanted:
        if candidate in usable and candidate in listed:
            return listed[candidate]
    shown = ", ".join(v.version for v in offered) or "none"
    raise UnsupportedVersionError(f"no common version: {why}, you offer {shown}")


def _missing_211(endpoints: list[Endpoint], role: str) -> str:
    """What a 2.1.1 platform of ``role`` lacks (``REQUIRED_211``), or ""."""
    identifiers = {e.identifier for e in endpoints}
    if CREDENTIALS not in identifiers:
        return "the credentials endpoint"
    needed = REQUIRED_211[role]
    if not identifiers.intersection(needed):
        return f"the {' or '.join(needed)} endpoint a 2.1.1 {role} must publish"
    return ""


def _missing_endpoints(endpoints: list[Endpoint]) -> str:
    identifiers = {e.identifier for e in endpoints}
    if CREDENTIALS not in identifiers:
        return "the credentials endpoint"
    if not identifiers.intersection(FUNCTIONAL_MODULES):
        return "any functional module endpoint"
    return ""
