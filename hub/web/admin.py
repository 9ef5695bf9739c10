"""The admin API (README: "Admin API"): platforms, their roles, registration and rotation."""

from __future__ import annotations

import hmac
import re

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from hub.agreements import Proposal
from hub.bridge import Withheld
from hub.delivery.messages import Message
from hub.errors import ConflictError, InvalidParametersError, NotFoundError, UnauthorizedError
from hub.ocpi import headers as h
from hub.ocpi.lanes import LANES
from hub.ocpi.versions import RECEIVER, V2_1_1
from hub.records import Agreement, Party, Platform, deliverable, label, party_key, party_of
from hub.store.kept import Parked
from hub.web import bodies, responses
from hub.web.admin_types import (
    GRANTABLE_ROLES,
    AgreementView,
    Assign,
    Connect,
    DeadLetterView,
    Imported,
    NewAgreement,
    NewPlatform,
    PartyRef,
    PlatformChange,
    QueueView,
    Redrive,
    Redriven,
    RoleGrant,
    TokenA,
    UnroutedView,
    new_platform_view,
    platform_view,
)
from hub.web.context import Services, services
from hub.web.openapi import ADMIN_OPENAPI

# The shape of agreement ids (hub.store.agreements.new_agreement) and unrouted ids
# (hub.store.kept.unrouted_id), checked before any lookup.
_AGREEMENT_ID = re.compile(r"[0-9a-f]{16}")
_UNROUTED_ID = re.compile(r"[0-9a-f]{16}")
# Items on one page of a paginated admin list: by default, and at most.
PAGE_LIMIT = 100
MAX_PAGE_LIMIT = 1000
_WHOLE = re.compile(r"[0-9]{1,9}")


def _authorize(request: Request) -> Services:
    hub = services(request)
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = hub.settings.admin_token or ""
    if (
        scheme.lower() != "bearer"
        or not expected
        or not hmac.compare_digest(given.strip().encode(), expected.encode())
    ):
        raise UnauthorizedError("the admin API needs 'Authorization: Bearer <admin token>'")
    return hub


def _parties(grants: list[RoleGrant], hub: Services) -> list[Party]:
    parties: list[Party] = []
    for i, grant in enumerate(grants):
        party = Party.of(grant.country_code, grant.party_id, grant.role)
        if party.role not in GRANTABLE_ROLES:
            allowed = ", ".join(sorted(GRANTABLE_ROLES))
            raise InvalidParametersError(f"roles[{i}].role must be one of {allowed}")
        if (party.country_code, party.party_id) == (
            hub.settings.country_code.upper(),
            hub.settings.party_id.upper(),
        ):
            raise ConflictError(f"roles[{i}] is the hub's own party")
        if party in parties:
            raise InvalidParametersError(f"roles[{i}] is given twice")
        parties.append(party)
    return parties


async def create_platform(request: Request) -> Response:
    hub = _authorize(request)
    wanted = await bodies.read(request, NewPlatform)
    platform, token_a = await hub.lifecycle.create(
        wanted.name, _parties(wanted.roles, hub), wanted.token_encoding
    )
    view = new_platform_view(
        platform,
        await hub.platforms.last_seen(platform.id),
        token_a=token_a,
        versions_url=hub.lifecycle.versions_url,
    )
    return responses.admin(view, http_status=201)


async def list_platforms(request: Request) -> Response:
    hub = _authorize(request)
    found = await hub.platforms.all()
    return responses.admin([await _view(hub, p) for p in found])


async def platform(request: Request) -> Response:
    hub = _authorize(request)
    platform_id = _platform_id(request.path_params["id"])
    if request.method == "DELETE":
        await hub.lifecycle.remove(platform_id)
        return Response(status_code=204)
    if request.method == "PATCH":
        change = await bodies.read(request, PlatformChange)
        found = await hub.lifecycle.update(
            platform_id,
            name=change.name,
            encoding=change.token_encoding,
            rate_limits=change.rate_limits,
            version_pin=change.version,
            time_zone=change.time_zone,
        )
    else:
        found = await hub.lifecycle.get(platform_id)
    return responses.admin(await _view(hub, found))


async def action(request: Request) -> Response:
    hub = _authorize(request)
    platform_id = _platform_id(request.path_params["id"])
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
            return responses.admin(TokenA(token_a=token_a, versions_url=hub.lifecycle.versions_url))
        case _:
            raise NotFoundError(f"no admin action {request.path_params['action']!r}")
    return responses.admin(await _view(hub, found))


async def _view(hub: Services, platform: Platform) -> msgspec.Struct:
    return platform_view(platform, await hub.platforms.last_seen(platform.id))


# --- roaming agreements ------------------------------------------------------------------


def _proposal(body: NewAgreement) -> Proposal:
    modules = None if body.modules is None else list(body.modules)
    return Proposal(
        (body.cpo.country_code, body.cpo.party_id),
        (body.partner.country_code, body.partner.party_id),
        modules,
        body.extensions,
    )


def _agreement_view(agreement: Agreement) -> AgreementView:
    return AgreementView(
        id=agreement.id,
        cpo=PartyRef(country_code=agreement.cpo[0], party_id=agreement.cpo[1]),
        partner=PartyRef(country_code=agreement.partner[0], party_id=agreement.partner[1]),
        modules=None if agreement.modules is None else list(agreement.modules),
        created_at=agreement.created_at,
        extensions=agreement.extensions,
    )


async def agreements(request: Request) -> Response:
    hub = _authorize(request)
    if request.method == "POST":
        made = await hub.agreements.add(_proposal(await bodies.read(request, NewAgreement)))
        return responses.admin(_agreement_view(made), http_status=201)
    wanted = request.query_params.get("party")
    try:
        party = None if wanted is None else party_of(wanted)
    except ValueError as e:
        raise InvalidParametersError(f"party: {e}") from None
    return responses.admin([_agreement_view(a) for a in await hub.agreements.find(party)])


async def agreement(request: Request) -> Response:
    hub = _authorize(request)
    agreement_id = request.path_params["id"]
    if not _AGREEMENT_ID.fullmatch(agreement_id):
        raise NotFoundError(f"no agreement {agreement_id[:40]!r}")
    if request.method == "DELETE":
        return responses.admin(_agreement_view(await hub.agreements.remove(agreement_id)))
    return responses.admin(_agreement_view(await hub.agreements.get(agreement_id)))


async def import_agreements(request: Request) -> Response:
    hub = _authorize(request)
    wanted = await bodies.read(request, list[NewAgreement])
    found = await hub.agreements.add_many([_proposal(body) for body in wanted])
    created = sum(1 for _, new in found if new)
    return responses.admin(
        Imported(
            created=created,
            existing=len(found) - created,
            agreements=[_agreement_view(a) for a, _ in found],
        )
    )


# --- queues and dead letters -------------------------------------------------------------


async def queues(request: Request) -> Response:
    """Per receiving platform: what waits, how old the oldest is, what was parked."""
    hub = _authorize(request)
    listed = [p for p in await hub.platforms.all() if p.registered or p.deleted]
    # Only the queues that may hold something are read (Queue.overview); who delivers each
    # in one round trip.
    ids = [p.id for p in listed]
    stats = await hub.queue.overview([(p.id, deliverable(p)) for p in listed])
    holders = await hub.queue.schedule.holders(ids)
    found = [
        QueueView(
            platform=p.id,
            name=p.name,
            status=p.status,
            depth=stats[p.id].depth,
            oldest_age=stats[p.id].oldest_age,
            dead_letters=stats[p.id].dead_letters,
            delivered_by=holders.get(p.id),
        )
        for p in listed
    ]
    return responses.admin(found)


async def dead_letters(request: Request) -> Response:
    hub = _authorize(request)
    wanted = request.query_params.get("platform")
    found: list[DeadLetterView] = []
    for platform_id in await _platform_ids(hub, wanted):
        for letter in await hub.queue.dead_letters(platform_id):
            found.append(
                DeadLetterView(
                    id=letter.id,
                    message=None if letter.message is None else _raw(letter.message),
                    raw=letter.raw,
                    reason=letter.reason,
                    attempts=letter.attempts,
                    parked_at=letter.parked_at,
                    platform=platform_id,
                )
            )
    return responses.admin(found)


async def redrive(request: Request) -> Response:
    """Queue parked messages again: all, a platform's, or some ids of a platform's. Letters
    without a message (undecodable entries) are skipped and counted, or refused when named."""
    hub = _authorize(request)
    wanted = await bodies.read(request, Redrive, empty=Redrive())
    if wanted.ids is not None and wanted.platform is None:
        raise InvalidParametersError("ids need a platform")
    count = skipped = 0
    for platform_id in await _platform_ids(hub, wanted.platform):
        redriven, hopeless = await hub.queue.redrive(platform_id, wanted.ids)
        count, skipped = count + redriven, skipped + hopeless
    if count:
        hub.wake_delivery()
    return responses.admin(Redriven(redriven=count, skipped=skipped))


# --- sessions and CDRs the hub could not route --------------------------------------------


def _unrouted_view(parked: Parked) -> UnroutedView:
    return UnroutedView(
        id=parked.id,
        module=parked.module,
        cpo=PartyRef(country_code=parked.cpo[0], party_id=parked.cpo[1]),
        object_id=parked.object_id,
        reason=parked.reason,
        kept_at=parked.kept_at,
        body=parked.body,
        version=parked.version,
    )


def _whole(request: Request, name: str, default: int) -> int:
    given = request.query_params.get(name)
    if given is None:
        return default
    if not _WHOLE.fullmatch(given):
        raise InvalidParametersError(f"{name} must be a whole number below 10^9")
    return int(given)


async def unrouted(request: Request) -> Response:
    """The parked sessions and CDRs, oldest first, a page at a time (``offset``, ``limit``);
    X-Total-Count says how many there are in all."""
    hub = _authorize(request)
    offset = _whole(request, "offset", 0)
    limit = min(_whole(request, "limit", PAGE_LIMIT), MAX_PAGE_LIMIT)
    found, total = await hub.kept.unrouted(offset, limit)
    return responses.admin([_unrouted_view(p) for p in found], headers={h.TOTAL_COUNT: str(total)})


async def assign_unrouted(request: Request) -> Response:
    """Give a parked session or CDR to the eMSP it is for: it moves to that eMSP's kept
    records, for it to pull (README: "Unrouted sessions and CDRs")."""
    hub = _authorize(request)
    unrouted_id = request.path_params["id"]
    if not _UNROUTED_ID.fullmatch(unrouted_id):
        raise NotFoundError(f"no unrouted session or CDR {unrouted_id[:40]!r}")
    wanted = await bodies.read(request, Assign)
    emsp = party_key(wanted.emsp.country_code, wanted.emsp.party_id)
    parked = await hub.kept.parked(unrouted_id)
    if parked is None:
        raise NotFoundError(f"no unrouted session or CDR {unrouted_id!r}")
    # Only a party that can receive the module: another would be keeping records for nobody.
    receivers = LANES[(parked.module, RECEIVER)].receivers
    snapshot = await hub.cache.current()
    if not any(p.role in receivers for p in snapshot.granted_at.get(emsp, ())):
        sides = ", ".join(sorted(receivers))
        raise InvalidParametersError(
            f"emsp: no platform is granted {label(emsp)} in a role that receives "
            f"{parked.module} ({sides})"
        )
    body = None
    if parked.version == V2_1_1:
        # Kept as the 2.1.1 CPO sent it: written up now, with the token the hub may have
        # learned since (README: "Unrouted sessions and CDRs").
        up = await hub.bridge.request_up(
            parked.module,
            RECEIVER,
            "PUT" if parked.module == "sessions" else "POST",
            [*parked.cpo, parked.object_id] if parked.module == "sessions" else [],
            "",
            bytes(parked.body),
            parked.cpo,
        )
        if isinstance(up, Withheld):
            raise ConflictError(
                f"this 2.1.1 {parked.module[:-1]} cannot be written as 2.2.1 yet: {up.why}"
            )
        body = up[2]
    moved = await hub.kept.assign(unrouted_id, emsp, body=body)
    if moved is None:
        raise NotFoundError(f"no unrouted session or CDR {unrouted_id!r}")
    return responses.admin(_unrouted_view(moved))


def _raw(message: Message) -> msgspec.Raw:
    return msgspec.Raw(msgspec.json.encode(message))


def _platform_id(text: str) -> str:
    """A platform id as the hub makes them (12 hex digits), or 404 before any lookup: ids go
    into Redis key names, where a brace would change the key's hash slot."""
    if not _PLATFORM_ID.fullmatch(text):
        raise NotFoundError(f"no platform {text[:40]}")
    return text


_PLATFORM_ID = re.compile(r"[0-9a-f]{12}")


async def _platform_ids(hub: Services, wanted: str | None) -> list[str]:
    if wanted is not None:
        await hub.lifecycle.get(_platform_id(wanted))  # 404 for an unknown platform
        return [wanted]
    return [p.id for p in await hub.platforms.all()]


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
        Route("/admin/agreements", agreements, methods=["GET", "POST"]),
        Route("/admin/agreements/import", import_agreements, methods=["POST"]),
        Route("/admin/agreements/{id}", agreement, methods=["GET", "DELETE"]),
        Route("/admin/queues", queues, methods=["GET"]),
        Route("/admin/dead-letters", dead_letters, methods=["GET"]),
        Route("/admin/dead-letters/redrive", redrive, methods=["POST"]),
        Route("/admin/unrouted", unrouted, methods=["GET"]),
        Route("/admin/unrouted/{id}/assign", assign_unrouted, methods=["POST"]),
    ]
