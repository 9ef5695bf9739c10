"""ASGI middleware for every response: request ids, trailing slashes, and the last-resort 500.

Pure ASGI rather than BaseHTTPMiddleware: it runs on every request and must stay cheap.
"""

from __future__ import annotations

import logging
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.ocpi.envelope import envelope
from hub.ocpi.status import SERVER_ERROR

log = logging.getLogger("hub.web")

REQUEST_ID = b"x-request-id"
CORRELATION_ID = b"x-correlation-id"


class RequestContext:
    """Echo ``X-Request-ID`` and ``X-Correlation-ID`` (generated when absent, 2.2.1 transport
    and format) on every response, and serve ``/x/`` as ``/x`` (never a redirect: some
    platforms cannot follow one, and a POST must not be turned into a GET)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            raw: bytes = scope.get("raw_path") or path.encode()
            scope = dict(scope, path=path.rstrip("/") or "/", raw_path=raw.rstrip(b"/") or b"/")
        request_id = correlation_id = None
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                request_id = value
            elif name == CORRELATION_ID:
                correlation_id = value
        ids = [
            (REQUEST_ID, request_id or str(uuid.uuid4()).encode()),
            (CORRELATION_ID, correlation_id or str(uuid.uuid4()).encode()),
        ]
        scope.setdefault("state", {})["ids"] = {k.decode(): v.decode("latin-1") for k, v in ids}
        started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), *ids]
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), path)
            if started:
                raise
            await send_with_ids(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            body = envelope(None, SERVER_ERROR, "internal error")
            await send_with_ids({"type": "http.response.body", "body": body})
