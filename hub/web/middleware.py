"""ASGI middleware for every response: request ids, trailing slashes, the last-resort 500, and
one access log line and the request metrics per request.

Pure ASGI rather than BaseHTTPMiddleware: it runs on every request and must stay cheap.
"""

from __future__ import annotations

import logging
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import metrics
from hub.logs import ACCESS, REQUEST_IDS
from hub.ocpi.envelope import envelope
from hub.ocpi.status import SERVER_ERROR, SUCCESS
from hub.ocpi.versions import FUNCTIONAL_MODULES

log = logging.getLogger("hub.web")

REQUEST_ID = b"x-request-id"
CORRELATION_ID = b"x-correlation-id"
# Probes and scrapes: neither logged nor counted.
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})
INTERFACES = {"sender": "SENDER", "receiver": "RECEIVER"}


def labels(path: str) -> tuple[str, str]:
    """The (module, interface) metric labels of a path: a bounded set, never ids."""
    parts = path.split("/")
    if len(parts) > 1 and parts[1] == "admin":
        return "admin", ""
    if len(parts) < 3 or parts[1] != "ocpi":
        return "other", ""
    if parts[2] == "versions" or len(parts) == 3:
        return "versions", ""
    if len(parts) > 4 and parts[3] in INTERFACES and parts[4] in FUNCTIONAL_MODULES:
        return parts[4], INTERFACES[parts[3]]
    if parts[3] in ("credentials", "hubclientinfo", "via"):
        return parts[3], ""
    return "other", ""


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
        state = scope.setdefault("state", {})
        state["ids"] = {k.decode(): v.decode("latin-1") for k, v in ids}
        token = REQUEST_IDS.set((state["ids"]["x-request-id"], state["ids"]["x-correlation-id"]))
        began = time.perf_counter()
        started = False
        http_status = 500

        async def send_with_ids(message: Message) -> None:
            nonlocal started, http_status
            if message["type"] == "http.response.start":
                started = True
                http_status = message["status"]
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
            state["ocpi_status"] = SERVER_ERROR
            await send_with_ids({"type": "http.response.body", "body": body})
        finally:
            REQUEST_IDS.reset(token)
            if scope["path"] not in QUIET:
                _record(scope, state, http_status, time.perf_counter() - began)


def _record(scope: Scope, state: dict[str, object], http_status: int, elapsed: float) -> None:
    """The request's metrics and its access log line."""
    module, interface = labels(scope["path"])
    ocpi_status = state.get("ocpi_status")
    if ocpi_status is None and 200 <= http_status < 300:
        ocpi_status = SUCCESS
    forwarded = state.get("forward_seconds")
    own = elapsed - forwarded if isinstance(forwarded, float) else elapsed
    method = scope.get("method", "")
    metrics.REQUESTS.labels(
        module, interface, method, str(ocpi_status or ""), str(http_status)
    ).inc()
    metrics.REQUEST_DURATION.labels(module, interface).observe(max(own, 0.0))
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    ids = state["ids"]
    assert isinstance(ids, dict)
    ACCESS.info(
        "%s %s %s",
        method,
        scope["path"],
        http_status,
        extra={
            "ocpi_module": module,
            "sender": state.get("sender", ""),
            "receiver": state.get("receiver", ""),
            "ocpi_status": ocpi_status,
            "http_status": http_status,
            "duration_ms": round(elapsed * 1000, 2),
            "request_id": ids["x-request-id"],
            "correlation_id": ids["x-correlation-id"],
        },
    )
