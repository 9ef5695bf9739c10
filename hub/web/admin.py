"""The admin API (contract §2): platforms, their roles, registration and rotation."""

from __future__ import annotations

import hmac
from typing import Annotated

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.errors import Conflict, InvalidParameters, NotFound, Unauthorized
from hub.ocpi.credentials import ROLES, CountryCode, PartyId, Token
from hub.ocpi.versions import Url
from hub.store.platforms import Party, TokenEncoding
from hub.web import bodies, responses
from hub.web.context import Services, services
from hub.web.openapi import ADMIN_OPENAPI

# A platform may be granted any role but the hub's own.
GRANTABLE_ROLES = ROLES - {"HUB"}


class RoleGrant(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    country_code: CountryCode
    party_id: PartyId
    role: str


class NewPlatform(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    roles: Annotated[list[RoleGrant], msgspec.Meta(min_length=1)]
    token_encoding: TokenEncoding = "auto"


class PlatformChange(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None
    token_encoding: TokenEncoding | None = None


class Connect(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    versions_url: Url
    token: Token


def _authorize(request: Request) -> Services:
    hub = services(request)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = hub.settings.admin_token or ""
    if (
        scheme.lower() != "bearer"
        or not expected
        or not hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        raise Unauthorized("the admin API needs 'Authorization: Bearer <admin token>'")
    return hub


def _parties(grants: list[RoleGrant], hub: Services) -> list[Party]:
    parties: list[Party] = []
    for i, grant in enumerate(grants):
        party = Party.of(grant.country_code, grant.party_id, grant.role)
        if party.role not in GRANTABLE_ROLES:
            allowed = ", ".join(sorted(GRANTABLE_ROLES))
            raise InvalidParameters(f"roles[{i}].role must be one of {allowed}")
        if (party.country_code, party.party_id) == (
            hub.settings.country_code.upper(),
            hub.settings.party_id.upper(),
        ):
            raise Conflict(f"roles[{i}] is the hub's own party")
        if party in parties:
            raise InvalidParameters(f"roles[{i}] is given twice")
        parties.append(party)
    return parties


async def create_platform(request: Request) -> Response:
    hub = _authorize(request)
    wanted = await bodies.read(request, NewPlatform)
    platform, token_a = await hub.lifecycle.create(
        wanted.name, _parties(wanted.roles, hub), wanted.token_encoding
    )
    view = await hub.lifecycle.view(platform)
    view.update(token_a=token_a, versions_url=hub.lifecycle.versions_url)
    return responses.admin(view, http_status=201)


async def list_platforms(request: Request) -> Response:
    hub = _authorize(request)
    found = await hub.platforms.all()
    return responses.admin([await hub.lifecycle.view(p) for p in found])


async def platform(request: Request) -> Response:
    hub = _authorize(request)
    platform_id = request.path_params["id"]
    if request.method == "DELETE":
        await hub.lifecycle.remove(platform_id)
        return Response(status_code=204)
    if request.method == "PATCH":
        change = await bodies.read(request, PlatformChange)
        found = await hub.lifecycle.update(
            platform_id, name=change.name, encoding=change.token_encoding
        )
    else:
        found = await hub.lifecycle.get(platform_id)
    return responses.admin(await hub.lifecycle.view(found))


async def action(request: Request) -> Response:
    hub = _authorize(request)
    platform_id = request.path_params["id"]
    await hub.lifecycle.get(platform_id)  # 404 before anything else
    match request.path_params["action"]:
        case "connect":
            given = await bodies.read(request, Connect)
            found = await hub.registration.connect(platform_id, given.versions_url, given.token)
        case "rotate":
            found = await hub.registration.rotate(platform_id)
        case "suspend":
            found = await hub.lifecycle.suspend(platform_id)
        case "resume":
            found = await hub.lifecycle.resume(platform_id)
        case "token-a":
            token_a = await hub.lifecycle.new_token_a(platform_id)
            return responses.admin({"token_a": token_a, "versions_url": hub.lifecycle.versions_url})
        case _:
            raise NotFound(f"no admin action {request.path_params['action']!r}")
    return responses.admin(await hub.lifecycle.view(found))


async def openapi(request: Request) -> Response:
    # Public: it describes the API and holds nothing secret.
    return responses.admin(ADMIN_OPENAPI)


def routes() -> list[Route]:
    return [
        Route("/admin/openapi.json", openapi, methods=["GET"]),
        Route("/admin/platforms", create_platform, methods=["POST"]),
        Route("/admin/platforms", list_platforms, methods=["GET"]),
        Route("/admin/platforms/{id}", platform, methods=["GET", "PATCH", "DELETE"]),
        Route("/admin/platforms/{id}/{action}", action, methods=["POST"]),
    ]
