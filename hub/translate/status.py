"""OCPI status codes between 2.1.1 and 2.2.1.

2.1.1 defines 1000, 2000-2003 and 3000-3003 (2.1.1 status_codes.md). 2.2.1 adds 2004 "Unknown
Token", the hub errors 4000-4003 and the custom ranges x9xx (2.2.1 "Status codes"). Toward a
2.1.1 platform every code it cannot know becomes the generic code of the class that fits it,
with the original code kept in ``status_message`` so that nothing is hidden from support. The
HTTP status is never changed: 2.1.1 keeps "404 if the resource does not exist".
"""

from __future__ import annotations

from typing import Final, NamedTuple

from hub.ocpi.status import (
    CLIENT_ERROR,
    HUB_CONNECTION_PROBLEM,
    HUB_GENERIC_ERROR,
    HUB_TIMEOUT,
    HUB_UNKNOWN_RECEIVER,
    SERVER_ERROR,
    SUCCESS,
    UNKNOWN_LOCATION,
    UNKNOWN_TOKEN,
)
from hub.translate.losses import Loss, Rename

# 2.1.1 status_codes.md: every code a 2.1.1 platform knows.
CODES_211: Final = frozenset({1000, 2000, 2001, 2002, 2003, 3000, 3001, 3002, 3003})

# From a 2.1.1 platform's view the hub is the server: a receiver the hub cannot find is a
# request for something that is not there (a client error), the hub's own failures and a
# receiver's silence are server errors.
_DOWN: Final = {
    UNKNOWN_TOKEN: CLIENT_ERROR,
    HUB_UNKNOWN_RECEIVER: CLIENT_ERROR,
    HUB_GENERIC_ERROR: SERVER_ERROR,
    HUB_TIMEOUT: SERVER_ERROR,
    HUB_CONNECTION_PROBLEM: SERVER_ERROR,
}

RENAMES: Final[tuple[Rename, ...]] = ()

LOSSES: Final[tuple[Loss, ...]] = (
    Loss(
        "status codes",
        "down",
        "status_code",
        "changed",
        "2004 becomes 2000, 4001 becomes 2000 (2003 for a command's unknown Location), 4000, "
        "4002 and 4003 become 3000, custom codes the generic code of their class; the original "
        "code is kept in status_message",
    ),
    Loss(
        "status codes",
        "up",
        "status_code",
        "changed",
        "a 2.1.1 HTTP 404 to a real-time authorization becomes 2004 Unknown Token",
    ),
)


class Status(NamedTuple):
    """The status of an OCPI answer: HTTP status, OCPI ``status_code``, ``status_message``."""

    http_status: int
    code: int
    message: str | None


def status_down(status: Status, *, command_location: bool = False) -> Status:
    """A 2.2.1 answer's status as a 2.1.1 platform can read it. ``command_location`` says that
    a 4001 is about a command whose Location the hub could not resolve: 2.1.1 has 2003
    "Unknown Location" for exactly that."""
    if status.code in CODES_211:
        return status
    if status.code == HUB_UNKNOWN_RECEIVER and command_location:
        code = UNKNOWN_LOCATION
    else:
        code = _DOWN.get(status.code, _generic(status.code))
    text = _KNOWN_TEXT.get(status.code, f"OCPI status {status.code}")
    message = f"{text}: {status.message}" if status.message else text
    return Status(status.http_status, code, message)


_KNOWN_TEXT: Final = {
    UNKNOWN_TOKEN: "Unknown Token (OCPI 2004)",
    HUB_GENERIC_ERROR: "Hub error (OCPI 4000)",
    HUB_UNKNOWN_RECEIVER: "Unknown receiver (OCPI 4001)",
    HUB_TIMEOUT: "Timeout on forwarded request (OCPI 4002)",
    HUB_CONNECTION_PROBLEM: "Connection problem with the receiver (OCPI 4003)",
}


def _generic(code: int) -> int:
    """The generic code of a code's class: 1000, 2000 or 3000 (a 4xxx is the hub's, so a
    server error from a 2.1.1 platform's view); anything else is a server error."""
    generic = {1: SUCCESS, 2: CLIENT_ERROR, 3: SERVER_ERROR, 4: SERVER_ERROR}
    return generic.get(code // 1000, SERVER_ERROR)


def status_up(status: Status, *, authorization: bool = False) -> Status:
    """A 2.1.1 answer's status as 2.2.1. 2.1.1 defines no "Unknown Token"; its eMSP answers a
    real-time authorization of an unknown token with HTTP 404 (2.1.1 status_codes.md), which
    2.2.1 writes as 404 with 2004 (2.2.1 "Tokens module", real-time authorization)."""
    if authorization and status.http_status == 404:
        return Status(404, UNKNOWN_TOKEN, status.message or "Unknown Token")
    return status
