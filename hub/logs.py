"""Logging: text for people, JSON lines for machines, and the ids of the request in every line
logged while it is handled (``Exchange``, which also carries what the request's access line
says). Tokens and bodies are never logged.

One record is one line, whatever a client sent: in text lines, control characters are escaped,
and message arguments and field values that could pass for a line break, a field of their own
(``key=value``) or the end of a quoted value are written quoted, with JSON string escapes
(README: "Logs"). JSON lines are safe as they are: orjson escapes every control character.
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import copy
import logging
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TextIO

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

    def access_line(
        self, created: float, method: str, path: str, status: int, fields: dict[str, object]
    ) -> str:
        """What ``format`` makes of the access record ``"%s %s %s" % (method, path, status)``
        with ``fields`` as its extras, logged at ``created``, without building the record."""
        line: dict[str, Any] = {
            "time": _local_second(created, "%Y-%m-%dT%H:%M:%S"),
            "level": "info",
            "logger": ACCESS.name,
            "message": f"{method} {path} {status}",
            **fields,
        }
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

    def access_line(
        self, created: float, method: str, path: str, status: int, fields: dict[str, object]
    ) -> str:
        """What ``format`` makes of the access record ``"%s %s %s" % (method, path, status)``
        with ``fields`` (plain identifiers as keys) as its extras, logged at ``created``,
        without building the record: the same line, a fraction of the work."""
        message = _escaped(f"{_safe_argument(method)} {_safe_argument(path)} {status}")
        # logging's default time: local time, then milliseconds after a comma.
        asctime = f"{_local_second(created, '%Y-%m-%d %H:%M:%S')},{int((created % 1) * 1000):03d}"
        text = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        return f"{asctime} INFO {ACCESS.name}: {message} {text}"


_SECONDS: dict[str, tuple[int, str]] = {}


def _local_second(created: float, layout: str) -> str:
    """``time.strftime(layout)`` of ``created``'s local time, computed once a second."""
    second = int(created)
    cached = _SECONDS.get(layout)
    if cached is not None and cached[0] == second:
        return cached[1]
    text = time.strftime(layout, time.localtime(second))
    _SECONDS[layout] = (second, text)
    return text


class LineWriter:
    """Log lines written to a stream by a thread of their own, in batches: the event loop
    only appends a line to a queue. A line of level WARNING or above is written at once, after
    the lines queued before it (``write_now``): the lines that explain a crash are not left in
    memory. ``close`` (at exit) writes whatever is still queued."""

    # How long the thread lets lines gather once one has come: a write per batch, not per line.
    PAUSE = 0.02

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._queued: collections.deque[str] = collections.deque()
        self._writing = threading.Lock()  # one writer of the stream at a time
        self._wake = threading.Event()
        self._woken = False  # the thread has been told of a line and has not taken it yet
        self._closing = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="hub-log-writer", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        """Queue ``line`` (with its newline) for the thread; written at once after ``close``."""
        if self._closed:
            self.write_now(line)
            return
        self._queued.append(line)
        if not self._woken:
            self._woken = True
            self._wake.set()

    def write_now(self, line: str) -> None:
        """Write the queued lines, then ``line``, before returning."""
        with self._writing:
            self._write(self._take(), line)

    def close(self) -> None:
        """Stop the thread and write what is queued."""
        self._closing.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._closed = True
        with self._writing:
            self._write(self._take())

    def _run(self) -> None:
        while not self._closing.is_set():
            self._wake.wait()
            self._wake.clear()
            self._closing.wait(self.PAUSE)
            # Cleared before taking: a line queued from now on wakes the thread again.
            self._woken = False
            with self._writing:
                self._write(self._take())

    def _take(self) -> list[str]:
        taken = []
        queued = self._queued
        try:
            while True:
                taken.append(queued.popleft())
        except IndexError:
            return taken

    def _write(self, lines: list[str], *more: str) -> None:
        if not lines and not more:
            return
        try:
            self._stream.write("".join(lines) + "".join(more))
            self._stream.flush()
        except (OSError, ValueError):
            # The stream is gone (a closed pipe): there is nowhere left to say so.
            pass


class _QueuedHandler(logging.Handler):
    """Formats a record on the caller's thread (its arguments may change afterwards) and
    hands the line to a ``LineWriter``."""

    def __init__(self, writer: LineWriter, formatter: JsonFormatter | TextFormatter) -> None:
        super().__init__()
        self.writer = writer
        self.line_formatter = formatter
        self.setFormatter(formatter)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
        except Exception:
            self.handleError(record)
            return
        if record.levelno >= logging.WARNING:
            self.writer.write_now(line)
        else:
            self.writer.put(line)


# The handler ``configure`` installed (None before it runs): the access line's short way.
_HANDLER: _QueuedHandler | None = None


def access(method: str, path: str, status: int, fields: dict[str, object]) -> None:
    """Log the access line ``method path status`` with ``fields`` on ``hub.access`` (INFO).

    When the line goes nowhere but to the handler ``configure`` installed, it is formatted
    directly and queued, without a ``LogRecord``; else (another handler, as in tests that
    capture records) it is logged the usual way. Either way the line is the same."""
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    handler = _HANDLER
    handlers = logging.root.handlers
    if (
        handler is None
        or ACCESS.handlers
        or ACCESS.filters
        or len(handlers) != 1
        or handlers[0] is not handler
    ):
        ACCESS.info("%s %s %s", method, path, status, extra=fields)
        return
    line = handler.line_formatter.access_line(time.time(), method, path, status, fields)
    handler.writer.put(line + "\n")


def configure(log_format: Literal["text", "json"], level: str) -> None:
    """Log to stderr through a ``LineWriter``, whose queued lines are written at exit."""
    global _HANDLER
    if _HANDLER is not None:
        _HANDLER.writer.close()
        atexit.unregister(_HANDLER.writer.close)
    writer = LineWriter(sys.stderr)
    atexit.register(writer.close)
    handler = _HANDLER = _QueuedHandler(
        writer, JsonFormatter() if log_format == "json" else TextFormatter()
    )
    handler.addFilter(RequestIds())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # One access line per request comes from the hub itself (hub.access), with OCPI fields.
    logging.getLogger("uvicorn.access").disabled = True
