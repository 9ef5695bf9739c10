"""Logging: text for people, JSON lines for machines, and the ids of the request in every line
logged while it is handled. Tokens and bodies are never logged.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any, Literal

import orjson

# (X-Request-ID, X-Correlation-ID) of the request being handled, for every line logged in it.
REQUEST_IDS: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar(
    "request_ids", default=None
)
ACCESS = logging.getLogger("hub.access")

_RESERVED = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class RequestIds(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        ids = REQUEST_IDS.get()
        if ids is not None and not hasattr(record, "request_id"):
            record.request_id, record.correlation_id = ids
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
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = _extra(record)
        if extra:
            text += " " + " ".join(f"{k}={v}" for k, v in extra.items())
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
