"""A lean OCPI server for the broadcast benchmark: many parties in one process (uvloop +
httptools, no framework), each under its own path prefix (``/cpo``, ``/e000``, ``/e001``, ...).

For each party it serves what the hub calls:

* ``GET /{party}/ocpi/versions`` and ``GET /{party}/ocpi/2.2.1`` (versions and version details,
  the module URLs below the same prefix): the hub reads them in the credentials handshake, and
  reads the versions again to probe a platform that is OFFLINE;
* any module URL ``/{party}/ocpi/2.2.1/{module}/{role}/...``: the OCPI envelope, status 1000.

Every call must carry the party's token (Base64 or raw). A PUT of a location or a tariff must
carry the expected body byte for byte (the template with the id of the URL). Each such PUT is
recorded: the monotonic time it arrived (``CLOCK_MONOTONIC``, the clock ``time.monotonic()``
reads in every process of the machine) and the party, per object id and per tag (the id up to
its last ``-``). A party can be switched "down": it then answers everything with HTTP 503, as a
load balancer in front of a stopped platform does.

Control and observation (not OCPI; no token):

* ``GET /_wait?id=ID&count=N&timeout=S``: answers once ``N`` parties have received the PUT of
  object ``ID`` (or after ``S`` seconds): ``{"count", "first", "last"}`` (monotonic seconds);
* ``GET /_tag?tag=T``: ``{"count", "first", "last"}`` of every recorded PUT of that tag;
* ``GET /_stats``: counters (calls per party kind and method, refused tokens and bodies, 503s
  answered, duplicates);
* ``POST /_down?party=P&on=1`` (``on=0``: up again).

    python benchmarks/broadcast_receiver.py --port P --config parties.json

``parties.json``: ``{"parties": {"e000": {"token": T, "endpoints": [[module, role], ...]}, ...},
"bodies": {"locations": TEMPLATE, "tariffs": TEMPLATE}}``, a template being the compact JSON
with the id ``__ID__``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import time
import urllib.parse
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from receiver import HttpConnection

try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None  # type: ignore[assignment]

VERSION = "2.2.1"
PLACEHOLDER = b"__ID__"
REASONS = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized", 503: b"Service Unavailable"}


class Arrivals:
    """When each party received each object's PUT."""

    def __init__(self) -> None:
        self.by_id: dict[str, dict[str, float]] = {}
        self.by_tag: dict[str, list[float]] = {}  # tag -> [count, first, last]
        self.waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self.duplicates = 0

    def record(self, object_id: str, party: str, moment: float) -> None:
        seen = self.by_id.setdefault(object_id, {})
        if party in seen:
            self.duplicates += 1  # delivery is at least once
        else:
            seen[party] = moment
        tag = object_id.rpartition("-")[0]
        found = self.by_tag.get(tag)
        if found is None:
            self.by_tag[tag] = [1, moment, moment]
        else:
            found[0] += 1
            found[2] = moment
        waiting = self.waiters.get(object_id)
        if waiting:
            for count, future in list(waiting):
                if len(seen) >= count and not future.done():
                    future.set_result(None)

    def summary(self, object_id: str) -> dict[str, Any]:
        seen = self.by_id.get(object_id, {})
        times = sorted(seen.values())
        return {
            "count": len(times),
            "first": times[0] if times else None,
            "last": times[-1] if times else None,
        }

    async def wait(self, object_id: str, count: int, timeout: float) -> dict[str, Any]:
        if len(self.by_id.get(object_id, {})) < count:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            entry = (count, future)
            self.waiters.setdefault(object_id, []).append(entry)
            try:
                await asyncio.wait_for(future, timeout)
            except TimeoutError:
                pass
            finally:
                self.waiters[object_id].remove(entry)
                if not self.waiters[object_id]:
                    del self.waiters[object_id]
        return self.summary(object_id)


class Server:
    def __init__(self, base_url: str, config: dict[str, Any]) -> None:
        self.base_url = base_url
        self.accepted: dict[str, set[bytes]] = {}
        self.details: dict[str, bytes] = {}
        self.versions: dict[str, bytes] = {}
        self.kind: dict[str, str] = {}  # party -> "cpo" | "emsp" (for the counters)
        for party, spec in config["parties"].items():
            token = spec["token"]
            encoded = base64.b64encode(token.encode()).decode()
            self.accepted[party] = {f"Token {encoded}".encode(), f"Token {token}".encode()}
            root = f"{base_url}/{party}/ocpi"
            endpoints = [
                {
                    "identifier": module,
                    "role": role,
                    "url": f"{root}/{VERSION}/credentials"
                    if module == "credentials"
                    else f"{root}/{VERSION}/{module}/{role.lower()}",
                }
                for module, role in spec["endpoints"]
            ]
            self.versions[party] = json.dumps([{"version": VERSION, "url": f"{root}/{VERSION}"}])
            self.details[party] = json.dumps({"version": VERSION, "endpoints": endpoints})
            self.kind[party] = spec.get("kind", "party")
        self.bodies: dict[str, tuple[bytes, bytes]] = {
            module: tuple(template.encode().split(PLACEHOLDER, 1))  # type: ignore[misc]
            for module, template in config["bodies"].items()
        }
        self.down: set[str] = set()
        self.arrivals = Arrivals()
        self.stats: Counter[str] = Counter()
        self._stamp_second = -1
        self._tail = b""

    def _envelope(self, data: bytes = b"null") -> bytes:
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._tail = (
                b',"status_code":1000,"status_message":"Success","timestamp":"'
                + stamp.encode()
                + b'"}'
            )
        return b'{"data":' + data + self._tail

    def answer(
        self, method: str, path: str, headers: dict[bytes, bytes], body: bytes, moment: float
    ) -> tuple[int, bytes]:
        """One OCPI call (the control URLs are handled by the connection)."""
        parts = path.strip("/").split("/")
        party = parts[0]
        accepted = self.accepted.get(party)
        if accepted is None or len(parts) < 3 or parts[1] != "ocpi":
            self.stats["not_found"] += 1
            return 404, b'{"status_code":2000,"status_message":"not found"}'
        if party in self.down:
            self.stats["answered_503"] += 1
            return 503, b"<html>503 Service Unavailable</html>"
        if headers.get(b"authorization") not in accepted:
            self.stats["bad_token"] += 1
            return 401, b'{"status_code":2000,"status_message":"bad token"}'
        if parts[2] == "versions":
            return 200, self._envelope(self.versions[party].encode())
        if len(parts) == 3 and parts[2] == VERSION:
            return 200, self._envelope(self.details[party].encode())
        module = parts[3] if len(parts) > 3 else ""
        self.stats[f"{self.kind[party]} {module} {method}"] += 1
        if method == "PUT" and module in self.bodies and len(parts) > 5:
            object_id = urllib.parse.unquote(parts[-1])
            head, tail = self.bodies[module]
            if body != head + object_id.encode() + tail:
                self.stats["bad_body"] += 1
                return 400, b'{"status_code":2001,"status_message":"body differs"}'
            self.arrivals.record(object_id, party, moment)
        return 200, self._envelope()

    def control(self, method: str, path: str, query: dict[str, str]) -> tuple[int, bytes] | None:
        """The synchronous control URLs; None for ``/_wait`` (asynchronous)."""
        if path == "/_stats":
            found = dict(self.stats)
            found["duplicates"] = self.arrivals.duplicates
            return 200, json.dumps(found).encode()
        if path == "/_tag":
            count, first, last = self.arrivals.by_tag.get(query.get("tag", ""), [0, None, None])
            return 200, json.dumps({"count": count, "first": first, "last": last}).encode()
        if path == "/_down" and method == "POST":
            party = query.get("party", "")
            if party not in self.accepted:
                return 404, b'{"error":"unknown party"}'
            if query.get("on", "1") == "1":
                self.down.add(party)
            else:
                self.down.discard(party)
            return 200, json.dumps({"down": sorted(self.down)}).encode()
        return 404, b'{"error":"unknown control URL"}'


class Connection(HttpConnection):
    def __init__(self, server: Server) -> None:
        super().__init__()
        self.server = server
        self.waiting: asyncio.Task[None] | None = None  # a /_wait being answered

    def on_message_complete(self) -> None:
        moment = time.monotonic()
        method = self.parser.get_method().decode()
        raw_path, _, raw_query = self.url.decode().partition("?")
        keep_alive = self.parser.should_keep_alive()
        if raw_path.startswith("/_"):
            query = dict(urllib.parse.parse_qsl(raw_query))
            if raw_path == "/_wait":
                self.waiting = asyncio.ensure_future(self._wait(query, keep_alive))
                return
            answer = self.server.control(method, raw_path, query)
            assert answer is not None
            self._write(*answer, keep_alive)
            return
        status, content = self.server.answer(
            method, raw_path, self.headers, b"".join(self.body), moment
        )
        self._write(status, content, keep_alive)

    async def _wait(self, query: dict[str, str], keep_alive: bool) -> None:
        found = await self.server.arrivals.wait(
            query.get("id", ""), int(query.get("count", "1")), float(query.get("timeout", "30"))
        )
        self._write(200, json.dumps(found).encode(), keep_alive)

    def _write(self, status: int, content: bytes, keep_alive: bool) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        head = [
            b"HTTP/1.1 %d %s" % (status, REASONS.get(status, b"Not Found")),
            b"Content-Type: application/json",
            b"Content-Length: %d" % len(content),
        ]
        for name, title in (
            (b"x-request-id", b"X-Request-ID"),
            (b"x-correlation-id", b"X-Correlation-ID"),
        ):
            value = self.headers.get(name)
            if value is not None:
                head.append(title + b": " + value)
        if not keep_alive:
            head.append(b"Connection: close")
        transport.write(b"\r\n".join(head) + b"\r\n\r\n" + content)
        if not keep_alive:
            transport.close()


async def serve(port: int, server: Server) -> None:
    loop = asyncio.get_running_loop()
    listener = await loop.create_server(
        lambda: Connection(server), "127.0.0.1", port, backlog=2048, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"broadcast receiver listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    listener.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, required=True, help="parties and body templates")
    args = parser.parse_args()
    server = Server(f"http://127.0.0.1:{args.port}", json.loads(args.config.read_text()))
    if uvloop is not None:
        uvloop.run(serve(args.port, server))
    else:
        asyncio.run(serve(args.port, server))


if __name__ == "__main__":
    main()
