"""The OCPI response envelope and timestamps (2.2.1 transport and format, "Response format")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from hub.ocpi.status import SUCCESS


def format_datetime(moment: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``: the only form the spec reads as UTC for certain."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def timestamp_now() -> str:
    return format_datetime(datetime.now(UTC))


def envelope(data: Any = None, status_code: int = SUCCESS, message: str | None = None) -> bytes:
    """One OCPI response body. ``data`` is left out when None (d2: senders should omit it)."""
    body: dict[str, Any] = {}
    if data is not None:
        body["data"] = data
    body["status_code"] = status_code
    if message is not None:
        body["status_message"] = message
    body["timestamp"] = timestamp_now()
    return orjson.dumps(body, default=_encode_struct)


def _encode_struct(obj: Any) -> Any:
    if isinstance(obj, msgspec.Struct):
        return msgspec.to_builtins(obj)
    raise TypeError(f"cannot encode {type(obj).__name__} as JSON")


class Envelope(msgspec.Struct, kw_only=True):
    """An envelope received from a platform; ``data`` is decoded later by what expects it."""

    status_code: int
    data: msgspec.Raw = msgspec.Raw(b"null")
    status_message: str | None = None
    timestamp: str | None = None
