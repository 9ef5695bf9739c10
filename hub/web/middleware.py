"""ASGI middleware for every response: request ids, trailing slashes, the last-resort 500, and
one access log line and the request metrics per request.

Pure ASGI rather than BaseHTTPMiddleware: it runs on every request and must stay cheap.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub import metrics
from hub.errors import HubError, InvalidParametersError, PayloadTooLargeError, ServerError
from hub.logs import ACCESS, REQUEST_IDS
from hub.ocpi.envelope import envelope
from hub.ocpi.status import SUCCESS
from hub.ocpi.versions import FUNCTIONAL_MODULES, INTERFACES

log = logging.getLogger("hub.web")

REQUEST_ID = b"x-request-id"
CORRELATION_ID = b"x-correlation-id"
CONTENT_LENGTH = b"content-length"
# Request ids are echoed and logged: printable ASCII without spaces, of a sane length.
MAX_ID_LENGTH = 255
_ID = re.compile(rb"[\x21-\x7e]{1,%d}" % MAX_ID_LENGTH)
# What the access log and metrics say of a request whose client hung up (nginx's word for it).
CLIENT_CLOSED = 499
# Probes and scrapes: neither logged nor counted.
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


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
    platforms cannot follow one, and a POST must not be turned into a GET).

    It also holds the limits every request meets before any endpoint runs: ids that could not
    be written safely into a log line or a header are refused (HTTP 400), and a body over
    ``max_body_size`` is refused (HTTP 413) without reading the rest of it."""

    def __init__(self, app: ASGIApp, *, max_body_size: int) -> None:
        self.app = app
        self.max_body_size = max_body_size

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            raw: bytes = scope.get("raw_path") or path.encode()
            scope = dict(scope, path=path.rstrip("/") or "/", raw_path=raw.rstrip(b"/") or b"/")
        request_id = correlation_id = None
        declared_size = 0
        for name, value in scope["headers"]:
            if name == REQUEST_ID:
                request_id = value
            elif name == CORRELATION_ID:
                correlation_id = value
            elif name == CONTENT_LENGTH and value.isdigit():
                declared_size = int(value)
        refusal = _bad_id(REQUEST_ID, request_id) or _bad_id(CORRELATION_ID, correlation_id)
        if refusal is not None:
            request_id = correlation_id = None
        ids = [
            (REQUEST_ID, request_id or str(uuid.uuid4()).encode()),
            (CORRELATION_ID, correlation_id or str(uuid.uuid4()).encode()),
        ]
        state = scope.setdefault("state", {})
        state["ids"] = {k.decode(): v.decode("ascii") for k, v in ids}
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

        async def answer(error: HubError, *extra: tuple[bytes, bytes]) -> None:
            state["ocpi_status"] = error.ocpi_status
            await send_with_ids(
                {
                    "type": "http.response.start",
                    "status": error.http_status,
                    "headers": [(b"content-type", b"application/json"), *extra],
                }
            )
            body = envelope(None, error.ocpi_status, error.message)
            await send_with_ids({"type": "http.response.body", "body": body})

        try:
            if refusal is not None:
                await answer(InvalidParametersError(refusal))
            elif declared_size > self.max_body_size:
                # Said up front: answer at once; uvicorn drops the body as it arrives.
                await answer(_too_large(self.max_body_size), (b"connection", b"close"))
            else:
                await self.app(scope, _limited(receive, self.max_body_size), send_with_ids)
        except ClientDisconnect:
            # The client hung up before its request was read whole: its loss, not an error.
            http_status = CLIENT_CLOSED
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), _printable(scope))
            if started:
                raise
            await answer(ServerError("internal error"))
        finally:
            REQUEST_IDS.reset(token)
            if scope["path"] not in QUIET:
                _record(scope, state, http_status, time.perf_counter() - began)


def _bad_id(name: bytes, value: bytes | None) -> str | None:
    """Why a request's id cannot be used (written into log lines and echoed as a header)."""
    if not value or _ID.fullmatch(value):
        return None
    spelled = "X-Request-ID" if name == REQUEST_ID else "X-Correlation-ID"
    return f"{spelled} must be 1 to {MAX_ID_LENGTH} printable ASCII characters without spaces"


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"the request body is larger than the hub accepts ({limit} bytes)")


def _limited(receive: Receive, limit: int) -> Receive:
    """``receive`` that refuses a body growing past ``limit`` (chunked, or longer than it said)
    as soon as it does, so that it is never held whole."""
    seen = 0

    async def limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return limited


def _printable(scope: Scope) -> str:
    """The request's path as sent (percent-encoded, so free of line breaks) for log lines."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else repr(scope["path"])


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
        _printable(scope),
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
