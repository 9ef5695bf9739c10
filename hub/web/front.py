"""The hub's ASGI app: Starlette, with a short way for the calls it serves most.

A functional module call (``/ocpi/2.2.1/{interface}/{module}/...`` and 2.3.0's) is relayed
by the hub to a platform, and it is what platforms send all day. It goes from
``RequestContext`` (ids, limits, the access line, the last-resort 500: the same middleware
as every other request) straight to its endpoint, found by looking the path's segments up in
sets, and its ``HubError`` is rendered as the error handler renders it. Every other request
(and a module call the short way does not know) takes Starlette's way: its error middleware,
its exception middleware and its router, which try each route's pattern in turn and wrap
``send`` twice more; measured, that way cost about a fifth of a forwarded call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from hub.errors import HubError
from hub.web.middleware import RequestContext
from hub.web.responses import render_error

Endpoint = Callable[[Request], Awaitable[Response]]
# The endpoint of a path and its path parameters, as the router would have found them; None:
# let the router find them.
Shortcut = Callable[[str], tuple[Endpoint, dict[str, str]] | None]


class Front(Starlette):
    """Starlette, whose ``__call__`` sends the requests ``shortcut`` knows straight to their
    endpoint (through ``RequestContext``, as every request)."""

    def __init__(self, *, shortcut: Shortcut, max_body_size: int, **starlette: object) -> None:
        super().__init__(**starlette)  # type: ignore[arg-type]
        self._shortcut = shortcut
        self._short = RequestContext(_endpoint, max_body_size=max_body_size)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            found = self._shortcut(scope["path"])
            if found is not None:
                scope["app"] = self  # what Request.app reads (the services in app.state)
                scope["endpoint"], scope["path_params"] = found
                await self._short(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


async def _endpoint(scope: Scope, receive: Receive, send: Send) -> None:
    """The endpoint ``Front`` found, called as Starlette's route and exception middleware
    would call it."""
    request = Request(scope, receive)
    endpoint: Endpoint = scope["endpoint"]
    try:
        response = await endpoint(request)
    except (HubError, HTTPException) as e:
        response = await render_error(request, e)
    await response(scope, receive, send)
