"""Endpoints for operators' machines: health, readiness and Prometheus metrics (also served on
``--metrics-port`` by a tiny server of its own, so that it need not be exposed to platforms)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from hub import metrics
from hub.records import SUSPENDED, deliverable
from hub.web.context import Services, services


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """200 when Redis answers, every background task runs and queued messages are being
    delivered; else 503 and what is wrong."""
    hub = services(request)
    down = hub.tasks_down()
    if down:
        return JSONResponse({"status": "background tasks down", "down": down}, status_code=503)
    if not hub.delivering():
        return JSONResponse({"status": "delivery starting"}, status_code=503)
    if not await hub.platforms.ping():
        return JSONResponse({"status": "redis unreachable"}, status_code=503)
    return JSONResponse({"status": "ready"})


async def exposition(hub: Services) -> bytes:
    """Fill the shared-state gauges from Redis, then render every metric."""
    state = hub.metrics_state
    snapshot = await hub.cache.current()
    counts: dict[str, int] = {}
    for platform in snapshot.platforms.values():
        status = SUSPENDED if platform.deleted else platform.status
        counts[status] = counts.get(status, 0) + 1
    # Only the queues that may hold something are read (Queue.overview), and only those that
    # do are shown: 10,000 series of zeros would cost every scrape and say nothing.
    platforms = snapshot.platforms.values()
    receivers = [(p.id, deliverable(p)) for p in platforms if p.registered and not p.deleted]
    found = await hub.queue.overview(receivers)
    queues = [
        (i, s.depth, s.oldest_age, s.dead_letters)
        for i, s in found.items()
        if s.depth or s.dead_letters
    ]
    state.platforms, state.queues = counts, queues
    state.unrouted = await hub.kept.unrouted_count()
    if hub.embedded_redis:
        state.redis_up = await hub.platforms.ping()
    return metrics.exposition(state, multiprocess_mode=hub.settings.workers > 1)


async def metrics_endpoint(request: Request) -> Response:
    body = await exposition(services(request))
    return Response(body, media_type=metrics.CONTENT_TYPE)


METRICS_HEAD_SECONDS = 10.0
METRICS_HEAD_BYTES = 16 * 1024
METRICS_CONNECTIONS = 32


@contextlib.asynccontextmanager
async def metrics_server(
    host: str, port: int, produce: Callable[[], Awaitable[bytes]]
) -> AsyncIterator[None]:
    """A minimal HTTP/1.0 server answering GET /metrics on its own port. It is meant for a
    scraper, not the world, but holds the same lines as the main port: a request head must come
    whole within ``METRICS_HEAD_SECONDS`` and ``METRICS_HEAD_BYTES``, and at most
    ``METRICS_CONNECTIONS`` connections are served at once (others are closed at once)."""
    open_connections = 0

    async def head(reader: asyncio.StreamReader) -> bytes:
        request_line = await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass
        return request_line

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal open_connections
        open_connections += 1
        try:
            if open_connections > METRICS_CONNECTIONS:
                return
            request_line = await asyncio.wait_for(head(reader), METRICS_HEAD_SECONDS)
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
        except (TimeoutError, ConnectionError, ValueError):
            # ValueError: a line longer than the reader's limit (METRICS_HEAD_BYTES).
            pass
        finally:
            open_connections -= 1
            writer.close()

    # reuse_port: with --workers N every worker binds it, and each answers with all workers' sums.
    server = await asyncio.start_server(
        answer, host, port, reuse_port=True, limit=METRICS_HEAD_BYTES
    )
    try:
        yield
    finally:
        server.close()
        await server.wait_closed()
