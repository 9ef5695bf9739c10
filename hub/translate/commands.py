"""Commands between 2.1.1 and 2.2.1: the requests, the CPO's synchronous answer and its
asynchronous result.

2.1.1 mod_commands.md against 2.2.1 "Commands module". In 2.1.1 the CPO answers with a
``CommandResponse {result}`` and later POSTs another ``CommandResponse`` to ``response_url``;
2.2.1 answers ``CommandResponse {result, timeout, message}`` and POSTs a ``CommandResult``.
The original ``2.1.1`` tag sent a bare CommandResponseType string in both places, and 2.1.1-d2
made it an object ("a breaking change", 2.1.1-d2 changelog): both are read, the object is sent.
"""

from __future__ import annotations

from typing import Final

from hub.translate.fields import JSON as JsonObject
from hub.translate.losses import Loss, Rename, Withheld
from hub.translate.tokens import token_down, token_up

# 2.1.1 mod_commands.md §4.2 CommandType: no CANCEL_RESERVATION.
COMMAND_TYPES_211: Final = frozenset(
    {"RESERVE_NOW", "START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR"}
)
# 2.1.1 mod_commands.md §4.1 CommandResponseType: a synchronous TIMEOUT, which 2.2.1 moved to
# the asynchronous CommandResult.
_RESPONSE_UP: Final = {
    "NOT_SUPPORTED": "NOT_SUPPORTED",
    "REJECTED": "REJECTED",
    "ACCEPTED": "ACCEPTED",
    "TIMEOUT": "REJECTED",
    "UNKNOWN_SESSION": "UNKNOWN_SESSION",
}
_RESPONSE_DOWN: Final = {v: v for v in ("NOT_SUPPORTED", "REJECTED", "ACCEPTED", "UNKNOWN_SESSION")}
# A 2.1.1 asynchronous CommandResponse as a 2.2.1 CommandResult (2.2.1 CommandResultType).
_RESULT_UP: Final = {
    "ACCEPTED": "ACCEPTED",
    "REJECTED": "REJECTED",
    "NOT_SUPPORTED": "NOT_SUPPORTED",
    "TIMEOUT": "TIMEOUT",
    "UNKNOWN_SESSION": "REJECTED",
}
# A 2.2.1 CommandResult as a 2.1.1 asynchronous CommandResponse. CANCELED_RESERVATION comes
# after the reservation was accepted and 2.1.1 has no way to say it: not sent.
_RESULT_DOWN: Final = {
    "ACCEPTED": "ACCEPTED",
    "REJECTED": "REJECTED",
    "NOT_SUPPORTED": "NOT_SUPPORTED",
    "TIMEOUT": "TIMEOUT",
    "EVSE_OCCUPIED": "REJECTED",
    "EVSE_INOPERATIVE": "REJECTED",
    "FAILED": "REJECTED",
    "UNKNOWN_RESERVATION": "REJECTED",
}

# Fields that only change their name (or shape, for the costs) between the versions.
RENAMES: Final[tuple[Rename, ...]] = ()

LOSSES: Final[tuple[Loss, ...]] = (
    Loss(
        "commands",
        "down",
        "CANCEL_RESERVATION",
        "withheld",
        "2.1.1 has no CANCEL_RESERVATION: the hub answers NOT_SUPPORTED itself",
    ),
    Loss(
        "commands",
        "down",
        "START_SESSION.connector_id",
        "dropped",
        "2.1.1 StartSession names the EVSE at most",
    ),
    Loss(
        "commands",
        "down",
        "START_SESSION.authorization_reference",
        "dropped",
        "2.1.1 has none; the hub keeps it for the session and CDR",
    ),
    Loss(
        "commands",
        "down",
        "RESERVE_NOW.authorization_reference",
        "dropped",
        "as for START_SESSION",
    ),
    Loss(
        "commands",
        "down",
        "RESERVE_NOW.reservation_id",
        "changed",
        "2.1.1 takes an int: the hub's number for the 2.2.1 id, a parameter",
    ),
    Loss("commands", "up", "RESERVE_NOW.reservation_id", "changed", "the int as a decimal string"),
    Loss("commands", "down", "*.token", "changed", "as the Tokens translation says"),
    Loss("commands", "up", "*.token", "changed", "as the Tokens translation says"),
    Loss(
        "commands",
        "up",
        "response.timeout",
        "synthesized",
        "2.1.1 gives none: the time the hub waits for the CPO's result, a parameter",
    ),
    Loss(
        "commands",
        "up",
        "response.result",
        "changed",
        "a synchronous TIMEOUT becomes REJECTED with a message",
    ),
    Loss("commands", "down", "response.timeout", "dropped", "2.1.1 has none"),
    Loss("commands", "down", "response.message", "dropped", "2.1.1 has none"),
    Loss(
        "commands",
        "up",
        "result.result",
        "changed",
        "UNKNOWN_SESSION becomes REJECTED with a message",
    ),
    Loss(
        "commands",
        "down",
        "result.result",
        "changed",
        "EVSE_OCCUPIED, EVSE_INOPERATIVE, FAILED and UNKNOWN_RESERVATION become REJECTED",
    ),
    Loss(
        "commands",
        "down",
        "result",
        "withheld",
        "CANCELED_RESERVATION: 2.1.1 cannot say a reservation ended",
    ),
    Loss("commands", "down", "result.message", "dropped", "2.1.1 has none"),
)


def _pick(source: JsonObject, fields: tuple[str, ...]) -> JsonObject:
    return {name: source[name] for name in fields if name in source}


def _message(text: str) -> list[JsonObject]:
    return [{"language": "en", "text": text}]


def request_up(
    command: str, request: JsonObject, *, country_code: str, party_id: str
) -> JsonObject | Withheld:
    """A 2.1.1 command request as 2.2.1. ``country_code``/``party_id`` are the eMSP's, the
    owner of the request's token."""
    if command not in COMMAND_TYPES_211:
        return Withheld(f"2.1.1 has no {command}")
    up = dict(request)
    if "token" in request:
        up["token"] = token_up(request["token"], country_code=country_code, party_id=party_id)
    if command == "RESERVE_NOW" and "reservation_id" in request:
        up["reservation_id"] = str(request["reservation_id"])
    return _pick(up, _FIELDS_221[command])


def request_down(
    command: str, request: JsonObject, *, reservation_number: int | None = None
) -> JsonObject | Withheld:
    """A 2.2.1 command request as 2.1.1. For RESERVE_NOW, ``reservation_number`` is the int the
    hub keeps for this 2.2.1 ``reservation_id`` (the same id must give the same number, since a
    resend replaces the reservation, 2.1.1 mod_commands.md §3.2)."""
    if command not in COMMAND_TYPES_211:
        return Withheld(f"2.1.1 has no {command}")
    down = dict(request)
    if "token" in request:
        token = token_down(request["token"])
        if isinstance(token, Withheld):
            return token
        down["token"] = token
    if command == "RESERVE_NOW":
        if reservation_number is None:
            return Withheld("no 2.1.1 number for the reservation id")
        down["reservation_id"] = reservation_number
    return _pick(down, _FIELDS_211[command])


# The request fields each version defines (2.1.1 mod_commands.md §3.2-3.5, 2.2.1 §13.3).
_FIELDS_211: Final[dict[str, tuple[str, ...]]] = {
    "RESERVE_NOW": (
        "response_url",
        "token",
        "expiry_date",
        "reservation_id",
        "location_id",
        "evse_uid",
    ),
    "START_SESSION": ("response_url", "token", "location_id", "evse_uid"),
    "STOP_SESSION": ("response_url", "session_id"),
    "UNLOCK_CONNECTOR": ("response_url", "location_id", "evse_uid", "connector_id"),
}
_FIELDS_221: Final[dict[str, tuple[str, ...]]] = {
    **_FIELDS_211,
    "RESERVE_NOW": (*_FIELDS_211["RESERVE_NOW"], "authorization_reference"),
    "START_SESSION": (*_FIELDS_211["START_SESSION"], "connector_id", "authorization_reference"),
}


def not_supported(*, timeout: int) -> JsonObject:
    """The 2.2.1 CommandResponse the hub gives itself for a command a 2.1.1 CPO lacks
    (CANCEL_RESERVATION): NOT_SUPPORTED, and no CommandResult will follow."""
    return {
        "result": "NOT_SUPPORTED",
        "timeout": timeout,
        "message": _message("not supported by the CPO's OCPI version 2.1.1"),
    }


def _result_of(answer: JsonObject | str) -> str:
    """The CommandResponseType of a 2.1.1 answer: the 2.1.1-d2 object or the original bare
    string."""
    if isinstance(answer, str):
        return answer
    value = answer.get("result")
    return value if isinstance(value, str) else ""


def response_up(answer: JsonObject | str, *, timeout: int) -> JsonObject | Withheld:
    """A 2.1.1 CPO's synchronous CommandResponse as 2.2.1. ``timeout`` is how long the hub
    tells the eMSP to wait for the result (2.1.1 gives none)."""
    result = _result_of(answer)
    mapped = _RESPONSE_UP.get(result)
    if mapped is None:
        return Withheld(f"command response {result!r} is not 2.1.1")
    up: JsonObject = {"result": mapped, "timeout": timeout}
    if result != mapped:
        up["message"] = _message(f"the CPO answered {result}")
    return up


def response_down(response: JsonObject) -> JsonObject | Withheld:
    """A 2.2.1 CommandResponse as a 2.1.1 one (``result`` only)."""
    mapped = _RESPONSE_DOWN.get(response.get("result", ""))
    if mapped is None:
        return Withheld(f"command response {response.get('result')!r} has no 2.1.1 equivalent")
    return {"result": mapped}


def result_up(answer: JsonObject | str) -> JsonObject | Withheld:
    """A 2.1.1 CPO's asynchronous CommandResponse as a 2.2.1 CommandResult."""
    result = _result_of(answer)
    mapped = _RESULT_UP.get(result)
    if mapped is None:
        return Withheld(f"command result {result!r} is not 2.1.1")
    up: JsonObject = {"result": mapped}
    if result != mapped:
        up["message"] = _message(f"the CPO answered {result}")
    return up


def result_down(result: JsonObject) -> JsonObject | Withheld:
    """A 2.2.1 CommandResult as the 2.1.1 CommandResponse POSTed to ``response_url``."""
    mapped = _RESULT_DOWN.get(result.get("result", ""))
    if mapped is None:
        return Withheld(f"command result {result.get('result')!r} has no 2.1.1 equivalent")
    return {"result": mapped}
