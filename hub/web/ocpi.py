"""OCPI endpoints: versions, credentials (2.3.0, 2.2.1 and 2.1.1), and the functional modules'
entry points."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, request_response
from starlette.types import Receive, Scope, Send

from hub import metrics
from hub.errors import (
    HubError,
    InvalidParametersError,
    MethodNotAllowedError,
    NotFoundError,
    UnauthorizedError,
    from_validation,
)
from hub.hubclientinfo import listing
from hub.logs import EXCHANGE
from hub.ocpi.credentials import Credentials, Credentials230
from hub.ocpi.lanes import LANES
from hub.ocpi.pagination import Page
from hub.ocpi.paths import decode_segments
from hub.ocpi.v211.credentials import Credentials as Credentials211
from hub.ocpi.v211.versions import Endpoint as Endpoint211
from hub.ocpi.v211.versions import VersionDetails as VersionDetails211
from hub.ocpi.validation import InvalidInputError
from hub.ocpi.versions import (
    CREDENTIALS,
    HUBCLIENTINFO,
    INTERFACES,
    MODULES_211,
    PUBLISHED_211,
    RECEIVER,
    SENDER,
    V2_1_1,
    V2_2_1,
    V2_3_0,
    Endpoint,
    Version,
    VersionDetails,
    modules_in,
    other_side,
)
from hub.records import SUSPENDED, Party, Platform, party_211, versions_for
from hub.registration import Offer
from hub.relay import Answer, Call, is_proxy_id
from hub.web import bodies, responses
from hub.web.context import services


class Caller(msgspec.Struct, frozen=True):
    """The platform behind a request's token, and how it sent the token."""

    platform: Platform
    token: str
    token_a: bool
    sent_base64: bool


def _token_candidates(header: str) -> list[tuple[str, bool]]:
    """The Base64 reading of an ``Authorization: Token …`` value first (the 2.2.1 rule), then
    the raw value (what many 2.1.1 and 2.2 platforms send); see OCPI 2.2.1, "Transport and
    format", "Authorization header"."""
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if scheme.lower() != "token" or not value:
        raise UnauthorizedError("the Authorization header must be 'Token <credentials token>'")
    if not value.isascii() or not value.isprintable():
        # Tokens are printable ASCII (2.2.1 credentials, "token"), encoded or not.
        raise UnauthorizedError("unknown token")
    candidates = []
    try:
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        pass
    else:
        if decoded.isprintable() and decoded:
            candidates.append((decoded, True))
    candidates.append((value, False))
    return candidates


async def authenticate(request: Request, *, token_a_allowed: bool = False) -> Caller:
    """HTTP 401 for a missing or unknown token, a suspended platform, or token A used outside
    versions and credentials (2.2.1 transport and format, "Authorization").

    Tokens are looked up in the process's copy of the token index; one this process has not
    heard of (issued by another process a moment ago) is looked up in Redis, within a cap per
    process (PlatformCache.identify)."""
    header = request.headers.get("authorization")
    if not header:
        raise UnauthorizedError("missing Authorization header")
    candidates = _token_candidates(header)
    hub = services(request)
    match, snapshot = await hub.cache.identify([token for token, _ in candidates])
    if match is None:
        raise UnauthorizedError("unknown token")
    platform = snapshot.platforms.get(match.platform_id)
    if platform is None or platform.deleted:
        raise UnauthorizedError("unknown token")
    if platform.status == SUSPENDED:
        raise UnauthorizedError("this platform is suspended by the hub's operator")
    if match.kind == "A" and not token_a_allowed:
        raise UnauthorizedError("token A may only be used on the versions and credentials modules")
    token, sent_base64 = candidates[match.candidate]
    await hub.platforms.touch(platform.id)
    return Caller(platform, token, match.kind == "A", sent_base64)


# --- versions ---------------------------------------------------------------------------


def _base(request: Request) -> str:
    return f"{services(request).settings.base_url}/ocpi"


async def versions(request: Request) -> Response:
    """The versions the caller can use: 2.1.1 only for a platform that is one CPO or one eMSP
    (``hub.records.party_211``); any other would meet a version details document it cannot
    read as its own, and credentials it cannot register in."""
    _allow(request, GET_ONLY)
    caller = await authenticate(request, token_a_allowed=True)
    base = _base(request)
    return responses.ocpi([Version(v, f"{base}/{v}") for v in versions_for(caller.platform)])


def version_details_of(base: str, version: str = V2_2_1) -> VersionDetails:
    """The hub's 2.2.1 or 2.3.0 endpoints (the same shape, 2.3.0 §6.2). The hub is both sender
    and receiver of every functional module of the version (2.3.0 adds Payments, §16), so each
    has two URLs; hubclientinfo is served as its sender (data owner: hub)."""
    root = f"{base}/{version}"
    endpoints = [
        Endpoint(CREDENTIALS, f"{root}/{CREDENTIALS}", SENDER),
        Endpoint(HUBCLIENTINFO, f"{root}/{HUBCLIENTINFO}", SENDER),
    ]
    for module in modules_in(version):
        for path, role in INTERFACES.items():
            endpoints.append(Endpoint(module, f"{root}/{path}/{module}", role))
    return VersionDetails(version, endpoints)


async def version_details(request: Request) -> Response:
    _allow(request, GET_ONLY)
    await authenticate(request, token_a_allowed=True)
    return responses.ocpi(version_details_of(_base(request)))


async def version_details_v230(request: Request) -> Response:
    _allow(request, GET_ONLY)
    await authenticate(request, token_a_allowed=True)
    return responses.ocpi(version_details_of(_base(request), V2_3_0))


def version_details_211(base: str, role: str) -> VersionDetails211:
    """The hub's 2.1.1 endpoints for a platform of ``role`` (CPO or EMSP): one URL per module
    and no ``role`` (2.1.1 version_information_endpoint.md). Behind each URL is the interface
    of the other side (``PUBLISHED_211[other_side(role)]``): a CPO is shown the hub's eMSP
    interfaces (Locations receiver, Tokens sender, ...) and an eMSP the hub's CPO interfaces;
    the URLs are the same for both, the caller's role tells which interface a call is for."""
    root = f"{base}/{V2_1_1}"
    endpoints = [Endpoint211(CREDENTIALS, f"{root}/{CREDENTIALS}")]
    for module in sorted(PUBLISHED_211[other_side(role)]):
        endpoints.append(Endpoint211(module, f"{root}/{module}"))
    return VersionDetails211(V2_1_1, endpoints)


def _party_211(caller: Caller) -> Party:
    """The caller's one 2.1.1 party; 404 for a platform the hub does not offer 2.1.1 (it is
    not in its versions list, as an unknown version is not)."""
    party = party_211(caller.platform)
    if party is None:
        raise NotFoundError(
            "OCPI 2.1.1 is offered only to a platform of exactly one CPO or eMSP role "
            "(README: OCPI 2.1.1 platforms)"
        )
    return party


async def version_details_v211(request: Request) -> Response:
    _allow(request, GET_ONLY)
    caller = await authenticate(request, token_a_allowed=True)
    party = _party_211(caller)
    return responses.ocpi(version_details_211(_base(request), party.role))


# --- credentials (2.2.1 "Credentials module") ---------------------------------------------


CREDENTIALS_METHODS = frozenset({"GET", "POST", "PUT", "DELETE"})


async def credentials(request: Request) -> Response:
    return await _credentials(request, V2_2_1, Credentials)


async def credentials_230(request: Request) -> Response:
    """2.3.0 §7.2: the same methods and refusals as 2.2.1's; the hub's object names it in
    ``hub_party_id`` and lists the parties the caller can reach (README: "OCPI 2.3.0
    platforms")."""
    return await _credentials(request, V2_3_0, Credentials230)


async def credentials_211(request: Request) -> Response:
    """2.1.1 credentials.md §1: the same methods and refusals as 2.2.1's, with the flat
    one-party object, for a platform that can use 2.1.1."""
    return await _credentials(request, V2_1_1, Credentials211)


async def _credentials(request: Request, version: str, kind: type[Offer]) -> Response:
    # Checked first and exhaustively: DELETE unregisters, so no other method may end up there.
    _allow(request, CREDENTIALS_METHODS)
    caller = await authenticate(request, token_a_allowed=True)
    if version == V2_1_1:
        _party_211(caller)
    hub = services(request)
    method = request.method
    if method == "GET":
        # The credentials the caller uses to reach the hub: the token it just presented.
        answer = await hub.registration.answer(
            caller.platform.id, caller.token, version, sent=False
        )
        return responses.ocpi(answer)
    if method == "POST":
        if not caller.token_a:
            raise MethodNotAllowedError("this platform is registered already; use PUT to update")
        offer = await bodies.read(request, kind)
        token = await hub.registration.accept(
            caller.platform.id, offer, caller_base64=caller.sent_base64
        )
        answer = await hub.registration.answer(caller.platform.id, token, version, sent=True)
        return responses.ocpi(answer)
    if caller.token_a:
        raise MethodNotAllowedError("this platform is not registered; POST with token A first")
    if method == "PUT":
        offer = await bodies.read(request, kind)
        token = await hub.registration.update(
            caller.platform.id, offer, caller_base64=caller.sent_base64
        )
        answer = await hub.registration.answer(caller.platform.id, token, version, sent=True)
        return responses.ocpi(answer)
    assert method == "DELETE"
    await hub.registration.unregister(caller.platform.id)
    return responses.ocpi(message="unregistered")


# --- functional modules: relayed to the receiving platform -------------------------------


async def functional_module(request: Request) -> Response:
    return await _functional_module(request, V2_2_1)


async def functional_module_230(request: Request) -> Response:
    """A functional module on a 2.3.0 URL: routed as on 2.2.1's, with the call marked 2.3.0
    (``Call.version``) for the version layer behind the relay."""
    return await _functional_module(request, V2_3_0)


async def _functional_module(request: Request, version: str) -> Response:
    module = request.path_params["module"]
    interface = INTERFACES.get(request.path_params["interface"])
    if interface is None or module not in modules_in(version):
        raise NotFoundError("no such endpoint")
    _allow(request, LANES[(module, interface)].methods)
    caller = await authenticate(request)
    call = await _call(request, module, interface, _ids_below(request, depth=4), version)
    hub = services(request)
    try:
        if version == V2_2_1:
            answer = await hub.relay.relay(caller.platform.id, call)
        else:
            # Read into the core's 2.2.1 and the answer written back (README: "OCPI 2.3.0
            # platforms").
            answer = await hub.versioned.relay(caller.platform.id, call)
    except HubError as e:
        metrics.ROUTING_OF(module, "refused", type(e).__name__.removesuffix("Error")).inc()
        raise
    return _respond(answer)


async def functional_module_211(request: Request) -> Response:
    """A functional module of a 2.1.1 platform: one URL per module, the interface the one its
    role calls (2.1.1 has no roles on endpoints: a CPO calls the hub's eMSP interfaces and the
    reverse, see ``PUBLISHED_211``)."""
    module = request.path_params["module"]
    if module not in MODULES_211:
        raise NotFoundError("no such endpoint")
    _allow(request, LANES[(module, SENDER)].methods | LANES[(module, RECEIVER)].methods)
    caller = await authenticate(request)
    party = party_211(caller.platform)
    if party is None:
        raise NotFoundError("OCPI 2.1.1 is for platforms of one party, a CPO or an eMSP")
    interface = PUBLISHED_211[other_side(party.role)][module]
    _allow(request, LANES[(module, interface)].methods)
    call = await _call(request, module, interface, _ids_below(request, depth=3), V2_1_1)
    try:
        answer = await services(request).versioned.relay(caller.platform.id, call)
    except HubError as e:
        metrics.ROUTING_OF(module, "refused", type(e).__name__.removesuffix("Error")).inc()
        raise
    return _respond(answer)


async def via(request: Request) -> Response:
    """A hub URL that stands for a platform's URL (a command result's response_url, the next
    page of a list, a CDR's Location)."""
    _allow(request, VIA_METHODS)
    proxy_id = request.path_params["id"]
    if not is_proxy_id(proxy_id):
        raise NotFoundError("unknown or expired hub URL")
    caller = await authenticate(request)
    if caller.platform.version == V2_1_1:
        # Hub URLs are one for every version: a 2.1.1 caller's errors in 2.1.1 codes.
        request.state.ocpi_version = V2_1_1
    call = await _call(request, "", "", [])
    answer = await services(request).relay.follow(caller.platform.id, proxy_id, call)
    return _respond(answer)


def _respond(answer: Answer) -> Response:
    exchange = EXCHANGE.get()
    exchange.ocpi_status = answer.ocpi_status
    exchange.sender, exchange.receiver = answer.sender, answer.receiver
    exchange.forward_seconds = answer.forward_seconds
    return Response(answer.body, status_code=answer.status, headers=answer.headers)


def _ids_below(request: Request, *, depth: int) -> list[str]:
    """The ids in the path below the route's first ``depth`` segments, read from the raw
    path: each is decoded exactly once (the decoded path has lost which slashes were ``%2F``)
    and must be an opaque id (2001 otherwise, and nothing is forwarded)."""
    raw = request.scope.get("raw_path")
    text = raw.decode("latin-1") if isinstance(raw, bytes) else request.scope["path"]
    parts = text.split("/")
    prefix = "/".join(parts[: depth + 1])
    # The route's own segments must be what the router matched on, once decoded: an encoded
    # slash in them ("locations%2F..") would otherwise move the ids' boundary.
    if "%" in prefix and urllib.parse.unquote(prefix) != "/".join(
        request.scope["path"].split("/")[: depth + 1]
    ):
        raise InvalidParametersError("the URL is not a module URL followed by ids")
    try:
        return decode_segments("/".join(parts[depth + 1 :]))
    except InvalidInputError as e:
        raise from_validation(e) from e


def _allow(request: Request, allowed: frozenset[str]) -> None:
    """405 with ``Allow`` for a method the endpoint does not define (HEAD and OPTIONS
    included: OCPI defines neither)."""
    if request.method not in allowed:
        raise MethodNotAllowedError(
            f"{request.method} is not defined on this endpoint", allowed=allowed
        )


async def _call(
    request: Request, module: str, interface: str, segments: list[str], version: str = V2_2_1
) -> Call:
    body = await bodies.raw(request)
    bodies.check_json(body)
    return Call(
        module=module,
        interface=interface,
        method=request.method,
        segments=tuple(segments),
        query=request.url.query,
        headers={k.lower(): v for k, v in request.headers.items()},
        body=body,
        correlation_id=EXCHANGE.get().correlation_id,
        version=version,
    )


async def hubclientinfo(request: Request) -> Response:
    return await _hubclientinfo(request, V2_2_1)


async def hubclientinfo_230(request: Request) -> Response:
    """HubClientInfo is unchanged in 2.3.0 (2.3.0 §15): the same list at the 2.3.0 URL."""
    return await _hubclientinfo(request, V2_3_0)


async def _hubclientinfo(request: Request, version: str) -> Response:
    """The hub's HubClientInfo sender interface: every party and its status, paginated."""
    _allow(request, GET_ONLY)
    caller = await authenticate(request)
    hub = services(request)
    try:
        page = Page.of(request.url.query)
    except InvalidInputError as e:
        raise from_validation(e) from e
    snapshot = await hub.cache.current()
    # Under --agreements required: only the parties the caller has an agreement with.
    policy = await hub.partners.policy()
    every = listing(snapshot.platforms.values(), policy, caller.platform)
    found = [i for i in every if page.admits(i.last_updated)]
    shown = found[page.offset : page.offset + page.limit]
    url = f"{hub.settings.base_url}/ocpi/{version}/{HUBCLIENTINFO}"
    return responses.ocpi(shown, headers=page.headers(url, len(shown), len(found)))


GET_ONLY = frozenset({"GET"})
# What the hub URLs stand for: GET a next page or a CDR, POST a command or profile result.
VIA_METHODS = frozenset({"GET", "POST"})


class _AnyMethod:
    """An endpoint that Starlette hands every method to (it does so for ASGI apps, not for
    functions), so that the endpoint itself answers 405 with the methods its OCPI module
    defines (Starlette would also let HEAD into every GET endpoint)."""

    def __init__(self, endpoint: Callable[[Request], Awaitable[Response]]) -> None:
        self.endpoint = endpoint
        self._app = request_response(endpoint)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)


# The functional module endpoints by the version in their URL, for ``shortcut``.
_MODULE_ENDPOINTS: dict[str, Callable[[Request], Awaitable[Response]]] = {
    V2_2_1: functional_module,
    V2_3_0: functional_module_230,
}


def shortcut(
    path: str,
) -> tuple[Callable[[Request], Awaitable[Response]], dict[str, str]] | None:
    """The endpoint and path parameters that ``routes()`` gives a 2.2.1 or 2.3.0 functional
    module path (``/ocpi/{version}/{interface}/{module}[/{rest}]``, a trailing slash left
    out, as ``RequestContext`` serves it) of a known interface and module; None for any other
    path (``hub.web.front``)."""
    if "\n" in path:
        # The router's patterns match no path with a line break in it (404); nor does this.
        return None
    parts = path.rstrip("/").split("/", 5)
    if len(parts) < 5 or parts[1] != "ocpi":
        return None
    endpoint = _MODULE_ENDPOINTS.get(parts[2])
    if endpoint is None or parts[3] not in INTERFACES or parts[4] not in modules_in(parts[2]):
        return None
    params = {"interface": parts[3], "module": parts[4]}
    if len(parts) == 6:
        params["rest"] = parts[5]
    return endpoint, params


def routes() -> list[Route]:
    base = f"/ocpi/{V2_2_1}"
    # 2.3.0: the 2.2.1 layout under its own version (2.3.0 §6.2); the hub URLs (via) are one
    # for every version.
    base_230 = f"/ocpi/{V2_3_0}"
    # 2.1.1: version details and credentials here; its module URLs (/ocpi/2.1.1/{module}) are
    # served beside them by the functional routes.
    base_211 = f"/ocpi/{V2_1_1}"
    return [
        Route("/ocpi/versions", _AnyMethod(versions)),
        Route(base_211, _AnyMethod(version_details_v211)),
        Route(f"{base_211}/{CREDENTIALS}", _AnyMethod(credentials_211)),
        Route(base, _AnyMethod(version_details)),
        Route(f"{base}/{CREDENTIALS}", _AnyMethod(credentials)),
        Route(f"{base}/{HUBCLIENTINFO}", _AnyMethod(hubclientinfo)),
        Route(base + "/via/{id}", _AnyMethod(via)),
        Route(base + "/{interface}/{module}", _AnyMethod(functional_module)),
        Route(base + "/{interface}/{module}/{rest:path}", _AnyMethod(functional_module)),
        Route(base_230, _AnyMethod(version_details_v230)),
        Route(f"{base_230}/{CREDENTIALS}", _AnyMethod(credentials_230)),
        Route(f"{base_230}/{HUBCLIENTINFO}", _AnyMethod(hubclientinfo_230)),
        Route(base_230 + "/{interface}/{module}", _AnyMethod(functional_module_230)),
        Route(base_230 + "/{interface}/{module}/{rest:path}", _AnyMethod(functional_module_230)),
        Route(f"/ocpi/{V2_1_1}/{{module}}", _AnyMethod(functional_module_211)),
        Route(f"/ocpi/{V2_1_1}/{{module}}/{{rest:path}}", _AnyMethod(functional_module_211)),
    ]
