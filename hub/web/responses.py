"""Rendering responses, and the one place where errors become HTTP answers.

OCPI endpoints answer with the OCPI envelope; the admin API answers with plain JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import msgspec
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from hub.errors import (
    HubError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    ServerError,
    TooManyRequestsError,
)
from hub.logs import EXCHANGE
from hub.ocpi.envelope import envelope
from hub.ocpi.status import SUCCESS
from hub.ocpi.versions import V2_1_1
from hub.translate.status import Status, status_down
from hub.web.admin_types import AdminError

log = logging.getLogger("hub.web")

JSON = "application/json"
# Where the hub serves 2.1.1 platforms: errors there are written in 2.1.1 status codes.
OCPI_211 = f"/ocpi/{V2_1_1}/"
_json = msgspec.json.Encoder()


def ocpi(
    data: Any = None,
    *,
    status_code: int = SUCCESS,
    message: str | None = None,
    http_status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    return Response(
        envelope(data, status_code, message),
        status_code=http_status,
        media_type=JSON,
        headers=headers,
    )


def admin(
    data: Any, *, http_status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(_json.encode(data), status_code=http_status, media_type=JSON, headers=headers)


def is_admin(path: str) -> bool:
    return path == "/admin" or path.startswith("/admin/")


async def render_error(request: Request, exc: Exception) -> Response:
    """Starlette's exception handler for HubError and HTTPException (unknown routes, 405)."""
    error = _as_hub_error(exc)
    EXCHANGE.get().ocpi_status = error.ocpi_status  # for the access line
    if isinstance(error, ServerError) or error.http_status >= 500:
        log.warning("%s %s: %s", request.method, request.url.path, error.message)
    headers = {}
    if isinstance(error, MethodNotAllowedError) and error.allowed:
        headers["allow"] = ", ".join(sorted(error.allowed))
    elif isinstance(error, PayloadTooLargeError):
        # The rest of the body is not read: the connection cannot carry another request.
        headers["connection"] = "close"
    elif isinstance(error, TooManyRequestsError):
        headers["retry-after"] = str(error.retry_after)
    if is_admin(request.url.path):
        status = error.admin_status or error.http_status
        body = AdminError(error=error.message, status=status, ocpi_status=error.ocpi_status)
        response = admin(body, http_status=status)
        response.headers.update(headers)
        return response
    shown = Status(error.http_status, error.ocpi_status, error.message)
    if request.url.path.startswith(OCPI_211) or _version(request) == V2_1_1:
        # 2.1.1 has no 2004 and no 4xxx: the code a 2.1.1 platform reads (2.1.1 status_codes.md).
        path = request.url.path
        location = "/commands/" in path and not path.endswith("/STOP_SESSION")
        shown = status_down(shown, command_location=location)
    return ocpi(
        status_code=shown.code,
        message=shown.message,
        http_status=shown.http_status,
        headers=headers,
    )


def _version(request: Request) -> str | None:
    """The OCPI version the caller speaks where the URL does not say it (a hub URL)."""
    found = getattr(request.state, "ocpi_version", None)
    return found if isinstance(found, str) else None


def _as_hub_error(exc: Exception) -> HubError:
    """The handler is registered for HubError and HTTPException; Starlette's router raises the
    latter only for an unknown path (404) and for a method a route does not take (405)."""
    if isinstance(exc, HubError):
        return exc
    if isinstance(exc, HTTPException) and exc.status_code == 405:
        allow = (exc.headers or {}).get("Allow", "")
        allowed = frozenset(m.strip() for m in allow.split(",") if m.strip())
        return MethodNotAllowedError("method not allowed on this endpoint", allowed=allowed)
    return NotFoundError("no such endpoint")
