"""The HTTP protocol of the hub's server: uvicorn's httptools protocol with the limits uvicorn
does not have, and the OCPI envelope on the answers it gives itself (README: "Limits")."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any

from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol

from hub.ocpi.envelope import envelope
from hub.ocpi.headers import new_id
from hub.ocpi.status import CLIENT_ERROR, SERVER_ERROR
from hub.settings import Settings

log = logging.getLogger("hub.server")

# The largest request head (request line and headers) read before answering 431: generous for
# OCPI (a token, ids, routing headers), small enough that no client can fill the memory.
MAX_HEAD_SIZE = 64 * 1024


def _safe_id(value: bytes | None) -> bytes:
    """An id to echo if it is printable ASCII without spaces and at most 255 characters,
    else a new UUID4 (OCPI 2.2.1 transport and format: X-Request-ID, X-Correlation-ID)."""
    if value and len(value) <= 255 and all(0x21 <= b <= 0x7E for b in value):
        return value
    return new_id().encode()


class HubHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits uvicorn does not have.

    uvicorn only bounds the time between requests (``timeout_keep_alive``). Here a client has
    ``client_timeout`` seconds from connecting to its first byte, and from a request's first
    byte to its last; then the connection is closed. A request head (request line and headers)
    may not pass ``MAX_HEAD_SIZE``. When a new connection would pass ``max_connections``, the
    connection idle the longest (kept alive between two requests) is closed for it; only when
    none is idle is the new one refused. A new connection is not idle: it has
    ``client_timeout`` to send its request.

    ``configured()`` makes a subclass with the settings' values: uvicorn builds one protocol
    object per connection from the class alone.
    """

    client_timeout: float = 30.0
    max_connections: int = 2048
    _last_refusal_logged = -math.inf

    @classmethod
    def configured(cls, settings: Settings) -> type[HubHttpProtocol]:
        attributes = {
            "client_timeout": settings.client_timeout,
            "max_connections": settings.max_connections,
        }
        return type("ConfiguredHubHttpProtocol", (cls,), attributes)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        # Bytes of the request head read so far; None while a body is read.
        self._head_size: int | None = 0
        # From a request's first byte to its last.
        self._receiving = False
        # Since when the connection waits, kept alive, for its next request; None while it has
        # a request (or has not had one yet).
        self._idle_since: float | None = None

    # -- the connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()
        self._make_room()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # The first byte of a request starts its deadline (the parser may not say so: after an
        # Upgrade request it ignores what follows).
        if self._deadline is None:
            self._arm()
        # While a head is read, feed the parser no more than MAX_HEAD_SIZE of it: httptools
        # itself keeps a header line of any length in memory.
        while self._head_size is not None:
            room = MAX_HEAD_SIZE - self._head_size
            if room <= 0:
                self._answer_and_close(431, CLIENT_ERROR, "request head too large")
                return
            if len(data) <= room:  # the usual case: no copy
                self._head_size += len(data)
                super().data_received(data)
                return
            piece, data = data[:room], data[room:]
            self._head_size += len(piece)
            super().data_received(piece)
            if not data or self.transport.is_closing():
                return
        super().data_received(data)

    # -- the parser's callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._idle_since = None
        self._receiving = True
        if self._deadline is None:  # a pipelined request, read with the end of the one before
            self._arm()

    def on_headers_complete(self) -> None:
        super().on_headers_complete()  # may refuse the URL: then the head is still ours to answer
        self._head_size = None

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = False
        self._head_size = 0
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self._receiving and not self.pipeline:
            self._idle_since = time.monotonic()

    # -- the limits

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.client_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        running = self.cycle is not None and not self.cycle.response_complete
        waiting = running and (not self._receiving or self.cycle.waiting_for_100_continue)
        if self.flow.read_paused or waiting:
            # The hub stopped reading (the app has not taken the body yet, or a pipelined
            # request waits), the app works on a request it has whole, or the client waits for
            # its "100 Continue": not the client's delay.
            self._arm()
            return
        if self._receiving and self._head_size is not None:
            # A head is half read: say why before closing.
            self._answer_and_close(408, CLIENT_ERROR, "request not received in time")
            return
        # Nothing sent at all, or a body half sent to an app that is running: closing makes its
        # receive() return http.disconnect.
        self.transport.close()

    def _make_room(self) -> None:
        if len(self.connections) <= self.max_connections:
            return
        others = [
            c
            for c in self.connections
            if isinstance(c, HubHttpProtocol) and c is not self and not c.transport.is_closing()
        ]
        if len(others) < self.max_connections:
            return
        idle = [c for c in others if c._idle_since is not None]
        if idle:
            min(idle, key=lambda c: c._idle_since or 0.0).transport.close()
            return
        now = time.monotonic()
        if now - HubHttpProtocol._last_refusal_logged > 10:
            HubHttpProtocol._last_refusal_logged = now
            log.warning("refusing connections: %d open, none idle (max_connections)", len(others))
        self._answer_and_close(503, SERVER_ERROR, "too many connections, try again later")

    def _unsupported_upgrade_warning(self) -> None:
        # uvicorn would advise installing a WebSocket library: the hub serves none on purpose.
        self.logger.debug("ignored a request to upgrade the connection")

    # -- answers of the protocol itself

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request it cannot parse, as an OCPI envelope."""
        self._answer_and_close(400, CLIENT_ERROR, msg)

    def _answer_and_close(self, status: int, ocpi_status: int, message: str) -> None:
        """Answer the request being read, if no app has it, and close the connection.

        Once the head was read, the app answers (or has answered) that request; while an app
        answers an earlier one, an answer here would be taken for its. Then only close.
        """
        app_has_it = self._head_size is None
        app_busy = self.cycle is not None and not self.cycle.response_complete
        if app_has_it or app_busy:
            self.transport.close()
            return
        # The ids of the request being read, from the headers the parser has finished.
        ids = dict(self.headers or ()) if self._receiving else {}
        body = envelope(None, ocpi_status, message)
        headers = [
            *self.server_state.default_headers,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
            (b"x-request-id", _safe_id(ids.get(b"x-request-id"))),
            (b"x-correlation-id", _safe_id(ids.get(b"x-correlation-id"))),
        ]
        lines = [STATUS_LINE[status], *(name + b": " + value + b"\r\n" for name, value in headers)]
        self.transport.write(b"".join([*lines, b"\r\n", body]))
        self.transport.close()
