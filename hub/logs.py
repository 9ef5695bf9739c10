"""Logging: text for people, JSON lines for machines, and the ids of the request in every line
logged while it is handled (``Exchange``, which also carries what the request's access line
says). Tokens and bodies are never logged.

One record is one line, whatever a client sent: in text lines, control characters are escaped,
and message arguments and field values that could pass for a line break, a field of their own
(``key=value``) or the end of a quoted value are written quoted, with JSON string escapes
(README: "Logs"). JSON lines are safe as they are: orjson escapes every control character.
"""

from __future__ import annotations

import contextvars
import copy
import logging
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson


@dataclass(slots=True)
class Exchange:
    """One request being handled, as its log lines tell it: its ids (in every line logged while
    it is handled) and the facts of its access line and request metrics, filled in by whoever
    learns them (the web layer's endpoints and its error renderer)."""

    request_id: str  # X-Request-ID, as echoed
    correlation_id: str  # X-Correlation-ID, as echoed
    ocpi_status: int | None = None  # None: no OCPI status known (one is assumed for a 2xx)
    sender: str = ""  # the parties of a relayed call, as messages name them ("NL/CPO")
    receiver: str = ""
    forward_seconds: float | None = None  # spent waiting for the receiver: not the hub's time


# The request being handled (set by the web layer for the time it handles one).
EXCHANGE: contextvars.ContextVar[Exchange] = contextvars.ContextVar("exchange")
ACCESS = logging.getLogger("hub.access")

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


# C0 controls, DEL, C1 controls and the two Unicode line separators: each of them breaks a line
# for a terminal or for some log reader.
_BREAKS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_BREAKING = re.compile(f"[{_BREAKS}]")
# Escaped inside a quoted value: the breaks, the quote and the backslash.
_IN_QUOTES = re.compile(rf'[{_BREAKS}"\\]')
# What a bare (unquoted) value may not contain: the above, and any space or "=".
_NEEDS_QUOTES = re.compile(rf'[{_BREAKS}"\\\s=]')
# What a message argument may not contain bare: spaces are fine in a sentence, but without "="
# no text can pass for a field of its own.
_ARGUMENT_NEEDS_QUOTES = re.compile(rf'[{_BREAKS}"\\=]')
_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"', "\\": "\\\\"}


def _escape_char(match: re.Match[str]) -> str:
    char = match.group()
    return _SHORT_ESCAPES.get(char) or f"\\u{ord(char):04x}"


def _escaped(text: str) -> str:
    """``text`` with its line-breaking characters escaped (backslashes are left alone)."""
    return _BREAKING.sub(_escape_char, text)


def _quoted(text: str) -> str:
    """``text`` as a JSON string: in double quotes, with quotes, backslashes and controls
    escaped."""
    return '"' + _IN_QUOTES.sub(_escape_char, text) + '"'


def _value(value: object) -> str:
    """A field value as written: bare when that is unambiguous, else quoted."""
    text = str(value)
    return _quoted(text) if not text or _NEEDS_QUOTES.search(text) else text


class _Quoted(str):
    """A quoted message argument: the same text for ``%s`` and ``%r``."""

    def __repr__(self) -> str:
        return str(self)


def _safe_argument(argument: object) -> object:
    """A message argument, quoted when its text could pass for a line break or a field.

    Numbers and harmless values stay what they are, so that ``%d`` and ``%r`` still work.
    """
    if isinstance(argument, int | float):
        return argument
    text = str(argument)
    return _Quoted(_quoted(text)) if _ARGUMENT_NEEDS_QUOTES.search(text) else argument


class RequestIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exchange = EXCHANGE.get(None)
        if exchange is not None and not hasattr(record, "request_id"):
            record.request_id = exchange.request_id
            record.correlation_id = exchange.correlation_id
        return True


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _RESERVED}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            **_extra(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: message key=value ...`` on one line; a traceback follows on the
    lines below, as Python prints it."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        args = record.args
        if args:
            # A copy: the record itself may still go to other handlers.
            record = copy.copy(record)
            if isinstance(args, Mapping):
                record.args = {k: _safe_argument(v) for k, v in args.items()}
            else:
                record.args = tuple(_safe_argument(a) for a in args)
        return super().format(record)

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _escaped(record.message)
        text = super().formatMessage(record)
        extra = _extra(record)
        if extra:
            text += " " + " ".join(f"{_escaped(k)}={_value(v)}" for k, v in extra.items())
        return text


def configure(log_format: Literal["text", "json"], level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One access line per request comes from the hub itself (hub.access), with OCPI fields.
    logging.getLogger("uvicorn.access").disabled = True
