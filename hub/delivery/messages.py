"""What a queue holds: the messages the hub owes platforms, the dead letters they become when
they can never be delivered, and how both are read from their stream entries (leniently: an
entry written by hand or by a broken release is reported, never a reason to fail)."""

from __future__ import annotations

from typing import Any

import msgspec

from hub.store.connection import text

# The consumer group every hub process reads the queues through.
GROUP = "delivery"


class Message(msgspec.Struct, kw_only=True):
    """One call the hub owes a platform."""

    module: str
    interface: str
    method: str
    path: str  # below the receiver's endpoint URL
    query: str = ""
    body: msgspec.Raw = msgspec.Raw(b"null")  # the JSON body; null: none
    sender: tuple[str, str] | None = None  # OCPI-from; None for configuration modules
    receiver: tuple[str, str] | None = None  # OCPI-to
    # The party whose object a broadcast carries (the roaming policy is checked again against
    # it before sending); None for the hub's own messages.
    owner: tuple[str, str] | None = None
    object: str  # messages of one object are delivered in order; coalescing key
    full_state: bool  # a PUT: it makes older queued messages of the same object moot
    correlation_id: str
    enqueued_at: float

    @property
    def content(self) -> bytes | None:
        raw = bytes(self.body)
        return None if raw == b"null" else raw


class DeadLetter(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A parked message; ``raw`` instead of ``message`` when its entry could not be decoded
    (the entry's bytes as text, undecodable bytes escaped): it can never be delivered."""

    id: str
    message: Message | None = None
    raw: str | None = None
    reason: str
    attempts: int
    parked_at: float


class QueueStats(msgspec.Struct, kw_only=True):
    depth: int
    oldest_age: float | None
    dead_letters: int


encode = msgspec.json.Encoder().encode
_message = msgspec.json.Decoder(Message)


def shown(value: bytes) -> str:
    """Bytes of unknown origin as text for people: what is not UTF-8 is escaped."""
    return value.decode("utf-8", "backslashreplace")


def decoded(fields: dict[bytes, bytes]) -> Message | str:
    """The message of a queue entry, or why there is none."""
    raw = fields.get(b"m")
    if raw is None:
        names = ", ".join(sorted(shown(name) for name in fields))
        return f"undecodable queue entry: no field 'm' (it has: {names})"
    try:
        return _message.decode(raw)
    except msgspec.DecodeError as e:
        return f"undecodable queue entry: {e}"


def raw_of(fields: dict[bytes, bytes]) -> bytes:
    """What to keep of an undecodable entry: its field ``m``, else all its fields as JSON."""
    raw = fields.get(b"m")
    if raw is not None:
        return raw
    return encode({shown(name): shown(value) for name, value in fields.items()})


def letter(entry_id: bytes | str, fields: dict[bytes, bytes]) -> DeadLetter:
    """A dead letter as stored, read leniently: whatever its stream holds is listed, none of it
    makes the listing fail."""
    message: Message | None = None
    raw = fields.get(b"raw")
    if raw is None:
        found = decoded(fields)
        message = found if isinstance(found, Message) else None
        raw = None if message is not None else raw_of(fields)
    try:
        attempts = int(fields.get(b"attempts", b"0"))
    except ValueError:
        attempts = 0
    try:
        parked_at = float(fields.get(b"parked_at", b"0"))
    except ValueError:
        parked_at = 0.0
    return DeadLetter(
        id=text(entry_id),
        message=message,
        raw=None if raw is None else shown(raw),
        reason=shown(fields.get(b"reason", b"")),
        attempts=attempts,
        parked_at=parked_at,
    )


def later(a: str | None, b: str) -> bool:
    """Stream id ``a`` comes after ``b`` (ids compare as (milliseconds, sequence))."""
    if a is None:
        return False
    ams, aseq = a.split("-")
    bms, bseq = b.split("-")
    return (int(ams), int(aseq)) > (int(bms), int(bseq))


def entries_of(answer: Any) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """The entries of an XREADGROUP answer for one stream."""
    return [entry for _, entries in answer or [] for entry in entries]
