"""The ids every request and its answer carry: ``X-Request-ID`` and ``X-Correlation-ID``
(2.2.1 "Transport and format", "Unique message IDs"), taken from the request or made up when it
has none, and echoed on the answer."""

from __future__ import annotations

import re

from hub.ocpi.headers import new_id

REQUEST_ID = b"x-request-id"
CORRELATION_ID = b"x-correlation-id"
# Request ids are echoed and logged: printable ASCII without spaces, of a sane length.
MAX_ID_LENGTH = 255
_ID = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_ID_LENGTH)


def refusal(request_id: bytes | None, correlation_id: bytes | None) -> str | None:
    """Why the request's ids cannot be used (they are written into log lines and echoed as
    headers), else None."""
    return _bad("X-Request-ID", request_id) or _bad("X-Correlation-ID", correlation_id)


def _bad(spelled: str, value: bytes | None) -> str | None:
    if not value or _ID.fullmatch(value):
        return None
    return f"{spelled} must be 1 to {MAX_ID_LENGTH} printable ASCII characters without spaces"


def echoed(request_id: bytes | None, correlation_id: bytes | None) -> list[tuple[bytes, bytes]]:
    """The id headers of the answer: the request's own (checked by ``refusal``), a new UUID for
    one it lacks."""
    return [
        (REQUEST_ID, request_id or new_id().encode()),
        (CORRELATION_ID, correlation_id or new_id().encode()),
    ]
