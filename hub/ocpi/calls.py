"""What a call to a functional module says about itself, read from its URL and body.

The body is validated against the module's objects on the way (a bad field is OCPI 2001, named
by its path); what routing needs is returned as ``Facts``: the owner ids in the URL and body,
object ids, the eMSP behind a session or CDR, a command's ``response_url``.
URL shapes: the "Interfaces and endpoints" section of each module chapter of OCPI 2.2.1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from hub.ocpi import cdrs, chargingprofiles, commands, locations, sessions, tariffs, tokens
from hub.ocpi.common import PartyKey, party_key
from hub.ocpi.v230 import payments
from hub.ocpi.validation import InvalidInputError, check_patch, decode
from hub.ocpi.versions import PAYMENTS, RECEIVER, SENDER


@dataclass(frozen=True)
class Facts:
    url_owner: PartyKey | None = None  # /{country_code}/{party_id}/... of a client owned object
    body_owner: PartyKey | None = None  # country_code/party_id in the body
    counterpart: PartyKey | None = None  # the eMSP in a session's or CDR's cdr_token
    token: tuple[str, str] | None = None  # (uid, type) of a token pushed or authorized
    location_id: str | None = None
    session_id: str | None = None
    reservation_id: str | None = None
    command: str | None = None
    response_url: str | None = None
    response_url_in_query: bool = False
    expiry_date: str | None = None  # of a reservation
    extra: dict[str, Any] = field(default_factory=dict)


def _same_id(url_id: str, body_id: Any, name: str) -> None:
    """The object id in the URL must be the id in the body (2.2.1: 2001 advised)."""
    if isinstance(body_id, str) and body_id.upper() != url_id.upper():
        raise InvalidInputError(name, f"`{name}` {body_id!r} differs from the id in the URL")


def _owned_push(
    method: str,
    segments: list[str],
    body: bytes,
    kinds: list[type[msgspec.Struct]],
    id_fields: list[str],
) -> tuple[Facts, Any]:
    """PUT/PATCH of a client owned object at /{cc}/{pid}/{id}[/{id}[/{id}]]; ``kinds[i]`` is
    the object at depth i (Location, EVSE, Connector)."""
    if len(segments) < 3 or len(segments) > 2 + len(kinds):
        raise InvalidInputError("url", "the URL must end in /{country_code}/{party_id}/{id}")
    depth = len(segments) - 3
    kind, id_field = kinds[depth], id_fields[depth]
    facts = Facts(url_owner=party_key(segments[0], segments[1]))
    if method == "PUT":
        obj: Any = decode(body, kind)
        values = {name: getattr(obj, name, None) for name in ("country_code", "party_id")}
        _same_id(segments[-1], getattr(obj, id_field), id_field)
    else:
        obj = check_patch(body, kind)
        values = {name: obj.get(name) for name in ("country_code", "party_id")}
        _same_id(segments[-1], obj.get(id_field), id_field)
    if values["country_code"] is not None and values["party_id"] is not None:
        facts = Facts(
            url_owner=facts.url_owner,
            body_owner=party_key(values["country_code"], values["party_id"]),
        )
    return facts, obj


def inspect(
    module: str,
    interface: str,
    method: str,
    segments: list[str],
    query: Mapping[str, str],
    body: bytes,
) -> Facts:
    """Facts of one call; raises InvalidInputError for a bad body or URL."""
    push = method in ("PUT", "PATCH")
    if module == PAYMENTS:
        _payments(interface, method, segments, body)
        return Facts()
    if interface == RECEIVER:
        if module == "locations":
            if push:
                facts, _ = _owned_push(
                    method,
                    segments,
                    body,
                    [locations.Location, locations.EVSE, locations.Connector],
                    ["id", "uid", "id"],
                )
                return _with(facts, location_id=segments[2])
            return _owner_only(segments)
        if module == "sessions":
            if push:
                facts, obj = _owned_push(method, segments, body, [sessions.Session], ["id"])
                counterpart = None
                if isinstance(obj, sessions.Session):
                    token = obj.cdr_token
                    counterpart = party_key(token.country_code, token.party_id)
                return _with(facts, session_id=segments[2], counterpart=counterpart)
            facts = _owner_only(segments)
            return _with(facts, session_id=segments[2] if len(segments) > 2 else None)
        if module == "tariffs":
            if method == "PUT":
                facts, _ = _owned_push(method, segments, body, [tariffs.Tariff], ["id"])
                return facts
            return _owner_only(segments)
        if module == "tokens":
            if push:
                facts, obj = _owned_push(method, segments, body, [tokens.Token], ["uid"])
                kind = obj.type if isinstance(obj, tokens.Token) else query.get("type", "RFID")
                return _with(facts, token=(segments[2], kind))
            return _owner_only(segments)
        if module == "cdrs" and method == "POST":
            cdr = decode(body, cdrs.CDR)
            return Facts(
                body_owner=party_key(cdr.country_code, cdr.party_id),
                counterpart=party_key(cdr.cdr_token.country_code, cdr.cdr_token.party_id),
            )
        if module == "commands" and method == "POST":
            return _command(segments, body)
        if module == "chargingprofiles" and segments:
            session_id = segments[0]
            if method == "PUT":
                profile = decode(body, chargingprofiles.SetChargingProfile)
                return Facts(session_id=session_id, response_url=profile.response_url)
            url = query.get("response_url")
            return Facts(session_id=session_id, response_url=url, response_url_in_query=bool(url))
        return Facts()
    if interface == SENDER:
        if module == "locations" and segments:
            return Facts(location_id=segments[0])
        if module == "sessions" and len(segments) == 2 and segments[1] == "charging_preferences":
            if method == "PUT":
                decode(body, sessions.ChargingPreferences)
            return Facts(session_id=segments[0])
        if module == "tokens" and len(segments) == 2 and segments[1] == "authorize":
            if body.strip():
                decode(body, tokens.LocationReferences)
            return Facts(token=(segments[0], query.get("type", "RFID")))
        if module == "chargingprofiles" and segments and method == "PUT":
            decode(body, chargingprofiles.ActiveChargingProfile)
            return Facts(session_id=segments[0])
    return Facts()


def _owner_only(segments: list[str]) -> Facts:
    if len(segments) >= 2:
        return Facts(url_owner=party_key(segments[0], segments[1]))
    return Facts()


def _with(facts: Facts, **changes: Any) -> Facts:
    values = {name: getattr(facts, name) for name in facts.__dataclass_fields__}
    values.update(changes)
    return Facts(**values)


_COMMANDS: dict[str, type[msgspec.Struct]] = {
    "START_SESSION": commands.StartSession,
    "STOP_SESSION": commands.StopSession,
    "RESERVE_NOW": commands.ReserveNow,
    "CANCEL_RESERVATION": commands.CancelReservation,
    "UNLOCK_CONNECTOR": commands.UnlockConnector,
}


def _command(segments: list[str], body: bytes) -> Facts:
    if len(segments) != 1:
        raise InvalidInputError("url", "the URL must end in /{command}")
    name = segments[0].upper()
    kind = _COMMANDS.get(name)
    if kind is None:
        # An unknown command (an open enum in later versions) passes through unread.
        return Facts(command=name)
    request: Any = decode(body, kind)
    return Facts(
        command=name,
        response_url=request.response_url,
        location_id=getattr(request, "location_id", None),
        session_id=getattr(request, "session_id", None),
        reservation_id=getattr(request, "reservation_id", None),
        expiry_date=getattr(request, "expiry_date", None),
    )


TERMINALS = "terminals"
CONFIRMATIONS = "financial-advice-confirmations"


def _payments(interface: str, method: str, segments: list[str], body: bytes) -> None:
    """A Payments call (2.3.0 §16 "Interfaces and Endpoints"): its URL one the spec defines
    below the module's (``/terminals``, ``/financial-advice-confirmations``), its body the
    object of that method. Nothing in it names the parties: a Terminal's ``country_code`` and
    ``party_id`` are the customer's ("an alternative to the customer reference"), not the
    sender's, so no owner is read."""
    kind = segments[0] if segments else ""
    if kind not in (TERMINALS, CONFIRMATIONS):
        raise InvalidInputError(
            "url", f"the URL must continue with /{TERMINALS} or /{CONFIRMATIONS}"
        )
    depth = len(segments)
    if interface == RECEIVER:
        # The CPO's side: GET one object, POST a new one at the object's URL.
        if method == "GET" and depth == 2:
            return
        if method == "POST" and depth == 1:
            if kind == TERMINALS:
                decode(body, payments.NewTerminal)
            else:
                decode(body, payments.FinancialAdviceConfirmation)
            return
        raise InvalidInputError(
            "url", f"the receiver interface has GET /{kind}/{{id}} and POST /{kind} only"
        )
    # The PTP's side: GET lists and objects of both; terminals are also activated,
    # deactivated and updated by the CPO.
    if method == "GET" and depth in (1, 2):
        return
    if kind == TERMINALS:
        if method == "POST" and segments[1:] == ["activate"]:
            decode(body, payments.TerminalActivation)
            return
        if method == "POST" and depth == 3 and segments[2] == "deactivate":
            return
        if method == "PUT" and depth == 2:
            terminal = decode(body, payments.TerminalUpdate)
            _same_id(segments[1], terminal.terminal_id, "terminal_id")
            return
        if method == "PATCH" and depth == 2:
            # The spec's only PATCH (§16, "Assign Location IDs to Terminal") carries no
            # last_updated: not asked for here.
            changes = check_patch(body, payments.Terminal, last_updated=False)
            _same_id(segments[1], changes.get("terminal_id"), "terminal_id")
            return
    raise InvalidInputError(
        "url",
        f"{method} is not defined on this URL of the payments sender interface (2.3.0 §16)",
    )
