"""Commands module objects (2.2.1 "Commands module").

The eMSP POSTs one of the request objects to ``{commands}/{COMMAND}``; the CPO answers with a
CommandResponse and later POSTs a CommandResult to the request's ``response_url``. See
``hub.ocpi.common`` for the rules every object here follows.
"""

from __future__ import annotations

from typing import Final

from hub.ocpi.common import DateTime, DisplayText, Object
from hub.ocpi.tokens import Token

CANCEL_RESERVATION: Final = "CANCEL_RESERVATION"
RESERVE_NOW: Final = "RESERVE_NOW"
START_SESSION: Final = "START_SESSION"
STOP_SESSION: Final = "STOP_SESSION"
UNLOCK_CONNECTOR: Final = "UNLOCK_CONNECTOR"
# CommandType: the last segment of the Receiver URL. (An OpenEnum in 2.3.0, no new values.)
COMMAND_TYPES: Final = frozenset(
    {CANCEL_RESERVATION, RESERVE_NOW, START_SESSION, STOP_SESSION, UNLOCK_CONNECTOR}
)
COMMAND_RESPONSE_TYPES: Final = frozenset(
    {"NOT_SUPPORTED", "REJECTED", "ACCEPTED", "UNKNOWN_SESSION"}
)
COMMAND_RESULT_TYPES: Final = frozenset(
    {
        "ACCEPTED",
        "CANCELED_RESERVATION",
        "EVSE_OCCUPIED",
        "EVSE_INOPERATIVE",
        "FAILED",
        "NOT_SUPPORTED",
        "REJECTED",
        "TIMEOUT",
        "UNKNOWN_RESERVATION",
    }
)


class CancelReservation(Object, kw_only=True):
    response_url: str
    reservation_id: str


class ReserveNow(Object, kw_only=True):
    response_url: str
    token: Token
    # A CANCELED_RESERVATION result may be POSTed to response_url until this moment.
    expiry_date: DateTime
    reservation_id: str
    location_id: str
    evse_uid: str | None = None
    authorization_reference: str | None = None


class StartSession(Object, kw_only=True):
    response_url: str
    token: Token
    location_id: str
    evse_uid: str | None = None  # required when connector_id is given
    connector_id: str | None = None
    authorization_reference: str | None = None


class StopSession(Object, kw_only=True):
    response_url: str
    session_id: str


class UnlockConnector(Object, kw_only=True):
    response_url: str
    location_id: str
    evse_uid: str
    connector_id: str


Command = CancelReservation | ReserveNow | StartSession | StopSession | UnlockConnector

# The request object for each command type.
COMMAND_REQUESTS: Final[dict[str, type[Command]]] = {
    CANCEL_RESERVATION: CancelReservation,
    RESERVE_NOW: ReserveNow,
    START_SESSION: StartSession,
    STOP_SESSION: StopSession,
    UNLOCK_CONNECTOR: UnlockConnector,
}


class CommandResponse(Object, kw_only=True):
    """The CPO's synchronous answer (``data`` of the POST response)."""

    result: str  # CommandResponseType
    timeout: int  # seconds to wait for the CommandResult
    message: list[DisplayText] | None = None


class CommandResult(Object, kw_only=True):
    """The asynchronous result, POSTed by the CPO to ``response_url``."""

    result: str  # CommandResultType
    message: list[DisplayText] | None = None
