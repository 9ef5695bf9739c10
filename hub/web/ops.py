"""Endpoints for operators' machines: health, readiness and Prometheus metrics (also served on
``--metrics-port`` by a tiny server of its own, so that it need not be exposed to platforms)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub import metrics
from hub.store.platforms import SUSPENDED
from hub.web.context import Services, services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when Redis answers and every background task runs; else 503 and what is wrong."""
    hub = services(request)
    down = hub.tasks_down()
    if down:
        return JSONResponse({"status": "background tasks down", "down": down}, status_code=503)
    if not await hub.platforms.ping():
        return JSONResponse({"status": "redis unreachable"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def exposition(hub: Services) -> bytes:
    """Fill the shared-state gauges from Redis, then render every metric."""
    state = hub.metrics_state
    snapshot = await hub.cache.current()
    counts: dict[str, int] = {}
    queues = []
    for platform in snapshot.platforms.values():
        status = SUSPENDED if platform.deleted else platform.status
        counts[status] = counts.get(status, 0) + 1
        if platform.registered and not platform.deleted:
            stats = await hub.queue.stats(platform.id)
            queues.append((platform.id, status, stats.depth, stats.oldest_age, stats.dead_letters))
    state.platforms, state.queues = counts, queues
    if hub.embedded_redis:
        state.redis_up = await hub.platforms.ping()
    return metrics.exposition(state, multiprocess_mode=hub.settings.workers > 1)


async def metrics_endpoint(request: Request) -> Response:
    body = await exposition(services(request))
    return Response(body, media_type=metrics.CONTENT_TYPE)


@contextlib.asynccontextmanager
async def metrics_server(
    host: str, port: int, produce: Callable[[], Awaitable[bytes]]
) -> AsyncIterator[None]:
    """A minimal HTTP/1.0 server answering GET /metrics on its own port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 10)
            while (await asyncio.wait_for(reader.readline(), 10)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.split()
            if len(parts) >= 2 and parts[0] == b"GET" and parts[1].split(b"?")[0] == b"/metrics":
                body, status = await produce(), b"200 OK"
                kind = metrics.CONTENT_TYPE.encode()
            else:
                body, status, kind = b"not found\n", b"404 Not Found", b"text/plain"
            writer.write(
                b"HTTP/1.0 "
                + status
                + b"\r\nContent-Type: "
                + kind
                + b"\r\nContent-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    # reuse_port: with --workers N every worker binds it, and each answers with all workers' sums.
    server = await asyncio.start_server(answer, host, port, reuse_port=True)
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
