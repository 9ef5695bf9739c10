"""Reading a receiver's answer: its OCPI status, and the timeout of a command or
charging-profile response. An answer that is not an OCPI envelope becomes 4000 here."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import orjson

from hub.errors import PlatformError, ReceiverBrokenError
from hub.forward import PlatformResponse, read_envelope
from hub.records import Party, label


class Reply(msgspec.Struct):
    """What the hub reads of a receiver's envelope: its OCPI status, and a response's timeout.
    Nothing else: the sender gets the body as the receiver wrote it, so an odd
    ``status_message`` or ``timestamp`` is the receiver's business, not a reason for 4000."""

    status_code: int
    data: msgspec.Raw = msgspec.Raw(b"null")


class _Timeout(msgspec.Struct):
    timeout: float | None = None


_reply = msgspec.json.Decoder(Reply)
_timeout = msgspec.json.Decoder(_Timeout | None)


def read_reply(response: PlatformResponse, receiver: Party) -> Reply:
    """The receiver's envelope; an answer that is not one becomes OCPI 4000 here, so that the
    sender always gets an envelope."""
    try:
        return read_envelope(response, _reply)
    except PlatformError as e:
        raise ReceiverBrokenError(f"receiver {label(receiver)} answered {e.message}") from e


def withhold(body: bytes, keep: Callable[[Any], bool]) -> tuple[bytes, int, bool]:
    """``body`` (an OCPI envelope) without the objects of its ``data`` that ``keep`` refuses:
    (the body, how many were removed, whether ``data`` was one object that was refused). An
    answer with nothing to remove is returned as it came, byte for byte."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body, 0, False
    if not isinstance(document, dict):
        return body, 0, False
    data = document.get("data")
    if isinstance(data, list):
        kept = [item for item in data if keep(item)]
        if len(kept) == len(data):
            return body, 0, False
        document["data"] = kept
        return orjson.dumps(document), len(data) - len(kept), False
    if data is None or keep(data):
        return body, 0, False
    return body, 1, True


def response_timeout(reply: Reply) -> float | None:
    try:
        found = _timeout.decode(reply.data)
    except (msgspec.DecodeError, RecursionError):
        return None
    return found.timeout if found is not None else None
