"""Commands between 2.3.0 (2.3.0 §13) and 2.2.1 (2.2.1 "Commands module").

The objects are the same. CommandType is an OpenEnum in 2.3.0 (§13.4.3): a command 2.2.1 does
not define is withheld (the hub answers it itself). CommandResponseType and CommandResultType
stay closed enums in 2.3.0; a value outside them is withheld all the same, since 2.2.1 could
not read it. A request's token translates as the Tokens module says. See ``LOSSES``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hub.ocpi import commands as v221
from hub.translate.fields import JSON, check_whole, clean
from hub.translate.losses import Direction, Kind, Loss, Withheld
from hub.translate.v230.tokens import token_down

_M = "commands"


def _loss(direction: Direction, field: str, kind: Kind, why: str) -> Loss:
    return Loss(_M, direction, field, kind, why, "2.3.0")


_UNKNOWN = "(unknown fields and values)"
LOSSES: Final = (
    _loss("up", _UNKNOWN, "dropped", "not defined by 2.2.1: only spec fields are sent"),
    _loss(
        "down",
        "*",
        "withheld",
        "a CommandType 2.2.1 does not define (an OpenEnum in 2.3.0), or a request whose token "
        "the Tokens translation withholds (EMAID)",
    ),
    _loss(
        "down",
        "result",
        "withheld",
        "a CommandResponseType or CommandResultType 2.2.1 does not define",
    ),
    _loss("down", _UNKNOWN, "dropped", "not defined by 2.2.1 (its enums are closed)"),
)


def request_down(command: str, request: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 command request (``POST {commands}/{command}``) as 2.2.1."""
    kind = v221.COMMAND_REQUESTS.get(command)
    if kind is None:
        return Withheld(f"2.2.1 has no command {command!r}")
    body = clean(kind, request)
    if "token" in body:
        token = token_down(body["token"])
        if isinstance(token, Withheld):
            return token
        body["token"] = token
    return check_whole(kind, body)


def request_up(command: str, request: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.2.1 command request as 2.3.0 (every 2.2.1 command is a 2.3.0 one)."""
    kind = v221.COMMAND_REQUESTS.get(command)
    if kind is None:
        return Withheld(f"2.2.1 has no command {command!r}")
    return check_whole(kind, clean(kind, request))


def response_down(response: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 CPO's CommandResponse as 2.2.1."""
    body = clean(v221.CommandResponse, response)
    if body.get("result") not in v221.COMMAND_RESPONSE_TYPES:
        return Withheld(f"command response {body.get('result')!r} is not 2.2.1")
    return check_whole(v221.CommandResponse, body)


def response_up(response: Mapping[str, Any]) -> JSON:
    """A 2.2.1 CPO's CommandResponse as 2.3.0."""
    return check_whole(v221.CommandResponse, clean(v221.CommandResponse, response))


def result_down(result: Mapping[str, Any]) -> JSON | Withheld:
    """A 2.3.0 CPO's CommandResult (POSTed to ``response_url``) as 2.2.1."""
    body = clean(v221.CommandResult, result)
    if body.get("result") not in v221.COMMAND_RESULT_TYPES:
        return Withheld(f"command result {body.get('result')!r} is not 2.2.1")
    return check_whole(v221.CommandResult, body)


def result_up(result: Mapping[str, Any]) -> JSON:
    """A 2.2.1 CPO's CommandResult as 2.3.0."""
    return check_whole(v221.CommandResult, clean(v221.CommandResult, result))
