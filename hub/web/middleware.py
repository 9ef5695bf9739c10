"""The one ASGI middleware every request passes: it composes the jobs that each request meets
before and after any endpoint, each done in a module of its own:

- ``hub.web.ids``: the request's ``X-Request-ID``/``X-Correlation-ID``, checked and echoed;
- ``hub.web.limits``: the body size limit;
- ``hub.web.access``: the access line and the request metrics;
- here: ``/x/`` served as ``/x``, the request's ``Exchange`` (``hub.logs``) made current for
  the endpoints to fill in, a client that hung up, and the last-resort 500.

Pure ASGI rather than BaseHTTPMiddleware, and one middleware rather than one per job: it runs on
every request, and each ASGI layer would cost an await and a ``send`` wrapper more.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.errors import HubError, InvalidParametersError, ServerError
from hub.logs import EXCHANGE, Exchange
from hub.ocpi.envelope import envelope
from hub.web import access, ids, limits

log = logging.getLogger("hub.web")

CONTENT_LENGTH = b"content-length"


class RequestContext:
    """Echo ``X-Request-ID`` and ``X-Correlation-ID`` (made up when absent) on every response,
    and serve ``/x/`` as ``/x`` (never a redirect: some platforms cannot follow one, and a POST
    must not be turned into a GET).

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
        scope = _without_trailing_slash(scope)
        # One pass over the headers for every job that reads one.
        request_id = correlation_id = content_length = None
        for name, value in scope["headers"]:
            if name == ids.REQUEST_ID:
                request_id = value
            elif name == ids.CORRELATION_ID:
                correlation_id = value
            elif name == CONTENT_LENGTH:
                content_length = value
        refusal = ids.refusal(request_id, correlation_id)
        if refusal is not None:
            request_id = correlation_id = None
        echoed = ids.echoed(request_id, correlation_id)
        exchange = Exchange(echoed[0][1].decode("ascii"), echoed[1][1].decode("ascii"))
        token = EXCHANGE.set(exchange)
        began = time.perf_counter()
        http_status: int | None = None  # None until the answer starts

        async def send_with_ids(message: Message) -> None:
            nonlocal http_status
            if message["type"] == "http.response.start":
                http_status = message["status"]
                message["headers"] = [*message.get("headers", []), *echoed]
            await send(message)

        try:
            if refusal is not None:
                await _answer(send_with_ids, exchange, InvalidParametersError(refusal))
            elif limits.declared_size(content_length) > self.max_body_size:
                # Said up front: answer at once; uvicorn drops the body as it arrives.
                error = limits.too_large(self.max_body_size)
                await _answer(send_with_ids, exchange, error, (b"connection", b"close"))
            else:
                await self.app(scope, limits.limited(receive, self.max_body_size), send_with_ids)
        except ClientDisconnect:
            # The client hung up before its request was read whole: its loss, not an error.
            http_status = access.CLIENT_CLOSED
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), access.printable(scope))
            if http_status is not None:
                raise
            await _answer(send_with_ids, exchange, ServerError("internal error"))
        finally:
            EXCHANGE.reset(token)
            if scope["path"] not in access.QUIET:
                elapsed = time.perf_counter() - began
                access.record(scope, exchange, 500 if http_status is None else http_status, elapsed)


def _without_trailing_slash(scope: Scope) -> Scope:
    """The request for ``/x/`` as one for ``/x``."""
    path: str = scope["path"]
    if len(path) > 1 and path.endswith("/"):
        raw: bytes = scope.get("raw_path") or path.encode()
        return dict(scope, path=path.rstrip("/") or "/", raw_path=raw.rstrip(b"/") or b"/")
    return scope


async def _answer(
    send: Send, exchange: Exchange, error: HubError, *extra: tuple[bytes, bytes]
) -> None:
    """The OCPI answer for ``error``, for a request that no endpoint saw."""
    exchange.ocpi_status = error.ocpi_status
    await send(
        {
            "type": "http.response.start",
            "status": error.http_status,
            "headers": [(b"content-type", b"application/json"), *extra],
        }
    )
    await send(
        {"type": "http.response.body", "body": envelope(None, error.ocpi_status, error.message)}
    )
