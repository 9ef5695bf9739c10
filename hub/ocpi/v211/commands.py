"""Commands module objects (2.1.1 mod_commands.md §3, §4).

The eMSP POSTs a request object to ``{commands}/{COMMAND}``; the CPO answers with a
CommandResponse, and later POSTs another CommandResponse (not a CommandResult, which 2.2.1
added) to the request's ``response_url``. The ``2.1.1`` tag sent a bare CommandResponseType
string in both places; ``2.1.1-d2`` made it the object below, so a reader accepts both.
"""

from __future__ import annotations

from typing import Final

# §3.4 StopSession and §3.5 UnlockConnector: the same as 2.2.1's.
from hub.ocpi.commands import StopSession as StopSession
from hub.ocpi.commands import UnlockConnector as UnlockConnector
from hub.ocpi.v211.common import DateTime, Object
from hub.ocpi.v211.tokens import Token

RESERVE_NOW: Final = "RESERVE_NOW"
START_SESSION: Final = "START_SESSION"
STOP_SESSION: Final = "STOP_SESSION"
UNLOCK_CONNECTOR: Final = "UNLOCK_CONNECTOR"
# §4.2 CommandType: no CANCEL_RESERVATION.
COMMAND_TYPES: Final = frozenset({RESERVE_NOW, START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR})
# §4.1 CommandResponseType: TIMEOUT is a synchronous answer here.
COMMAND_RESPONSE_TYPES: Final = frozenset(
    {"NOT_SUPPORTED", "REJECTED", "ACCEPTED", "TIMEOUT", "UNKNOWN_SESSION"}
)


class ReserveNow(Object, kw_only=True):
    """§3.2."""

    response_url: str
    token: Token
    expiry_date: DateTime
    reservation_id: int  # 2.2.1: a string
    location_id: str
    evse_uid: str | None = None


class StartSession(Object, kw_only=True):
    """§3.3: no ``connector_id`` and no ``authorization_reference`` (2.2.1 added both)."""

    response_url: str
    token: Token
    location_id: str
    evse_uid: str | None = None


Command = ReserveNow | StartSession | StopSession | UnlockConnector

COMMAND_REQUESTS: Final[dict[str, type[Command]]] = {
    RESERVE_NOW: ReserveNow,
    START_SESSION: StartSession,
    STOP_SESSION: StopSession,
    UNLOCK_CONNECTOR: UnlockConnector,
}


class CommandResponse(Object, kw_only=True):
    """§3.1: the synchronous answer and the asynchronous result alike (no ``timeout``)."""

    result: str  # CommandResponseType
