"""Small ASGI apps served by the hub's real server code (hub/server/) in a real process, for
what the hub's own app cannot be made to do on purpose: hang in its shutdown, fail to start.

``python -m tests.apps APP '{"port": 8123, ...}'`` serves APP with those settings, as
``ocpi-hub serve`` serves the hub: one process, or a supervisor and ``workers`` workers.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from hub import logs, server, settings
from hub.settings import Settings

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _answer(send: Send, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"text/plain"), (b"content-length", b"%d" % len(body))],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _app(on_startup: str, on_shutdown: Callable[[], None]) -> App:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": on_startup})
                    if on_startup == "lifespan.startup.failed":
                        return
                elif message["type"] == "lifespan.shutdown":
                    on_shutdown()
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        # Reads the whole body, then answers with the worker's pid and the body's size.
        began, size = time.monotonic(), 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                print(f"http.disconnect after {time.monotonic() - began:.1f} s", flush=True)
                return
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        await _answer(send, f"{os.getpid()} {size}".encode())

    return app


def _nothing() -> None:
    return None


def _hang() -> None:
    # Blocks the event loop itself: only a thread can still end the process.
    time.sleep(3600)


def plain(settings: Settings, embedded_redis: bool) -> App:
    return _app("lifespan.startup.complete", _nothing)


def stuck_in_shutdown(settings: Settings, embedded_redis: bool) -> App:
    return _app("lifespan.startup.complete", _hang)


def failing_startup(settings: Settings, embedded_redis: bool) -> App:
    return _app("lifespan.startup.failed", _nothing)


APPS: dict[str, server.AppFactory] = {
    "plain": plain,
    "stuck_in_shutdown": stuck_in_shutdown,
    "failing_startup": failing_startup,
}


def main() -> int:
    name, flags = sys.argv[1], json.loads(sys.argv[2])
    loaded = settings.load(flags=flags)
    logs.configure(loaded.log_format, loaded.log_level)
    with server.listen(loaded.host, loaded.port) as sock:
        return server.run(loaded, sock, embedded_redis=False, app_factory=APPS[name])


if __name__ == "__main__":
    sys.exit(main())
