"""The benchmarks' lean OCPI server: uvloop + httptools, no framework, answers built from cached
bytes. One process plays any number of platforms, each under a path prefix of its own
(``/emsp``, ``/cpo``, ``/e000``, ...), and answers what the hub calls:

* ``GET /{party}/ocpi/versions`` and ``GET /{party}/ocpi/2.2.1`` (versions and version details,
  the module URLs below the same prefix): the hub reads them in the credentials handshake, and
  reads the versions again to probe a platform that is OFFLINE;
* any module URL ``/{party}/ocpi/2.2.1/{module}/{role}/...``: the OCPI envelope, status 1000;
  a GET of a sender URL of a module with an answer (``answers``) gets that object as its data.

Every call must carry the party's token (Base64 or raw). A PUT of a module with a body template
(``bodies``) must carry that body byte for byte, with the id of the URL in place of ``__ID__``.
With ``record``, each such PUT is recorded: the monotonic time it arrived (``CLOCK_MONOTONIC``,
the clock ``time.monotonic()`` reads in every process of the machine) and the party, per object
id and per tag (the id up to its last ``-``). A party can be switched "down": it then answers
everything with HTTP 503, as a load balancer in front of a stopped platform does. Answers echo
``X-Request-ID`` and ``X-Correlation-ID``.

Control and observation (not OCPI; no token):

* ``GET /_stats``: counters (calls per party kind, module and method, e.g. ``emsp locations
  PUT``; refused tokens and bodies as ``bad_token``, ``bad_body``; ``not_found``; 503s answered
  as ``answered_503``; ``duplicates`` among the recorded PUTs);
* ``GET /_wait?id=ID&count=N&timeout=S``: answers once ``N`` parties have received the PUT of
  object ``ID`` (or after ``S`` seconds): ``{"count", "first", "last"}`` (monotonic seconds);
* ``GET /_tag?tag=T``: ``{"count", "first", "last"}`` of every recorded PUT of that tag;
* ``POST /_down?party=P&on=1`` (``on=0``: up again).

    python benchmarks/receiver.py --port P --config parties.json
    python benchmarks/receiver.py --port P --token emsp=TOKEN --token cpo=TOKEN --location FILE

``parties.json``: ``{"parties": {"e000": {"token": T, "endpoints": [[module, role], ...],
"kind": K}, ...}, "bodies": {module: TEMPLATE}, "answers": {module: OBJECT}, "record": true}``,
a template being the compact JSON with the id ``__ID__``; all but ``parties`` are optional.
The second form is the forward benchmark's: parties ``emsp`` and ``cpo`` (their own kind) that
take PUTs of the location in FILE (compact JSON, as the load generator sends it) with the URL's
id, and answer GETs of their locations sender URLs with it; nothing is recorded.
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

import httptools

try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None  # type: ignore[assignment]

VERSION = "2.2.1"
PLACEHOLDER = b"__ID__"
REASONS = {
    200: b"OK",
    400: b"Bad Request",
    401: b"Unauthorized",
    404: b"Not Found",
    503: b"Service Unavailable",
}
NOT_FOUND = 404, b'{"status_code":2000,"status_message":"not found"}'
BAD_TOKEN = 401, b'{"status_code":2000,"status_message":"bad token"}'
BAD_BODY = 400, b'{"status_code":2001,"status_message":"body differs"}'
DOWN = 503, b"<html>503 Service Unavailable</html>"


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


class Party:
    """One platform the server plays: its token, and its versions and version details."""

    def __init__(self, base_url: str, name: str, spec: dict[str, Any]) -> None:
        self.name = name
        self.kind: str = spec.get("kind", "party")  # for the counters
        token = spec["token"]
        encoded = base64.b64encode(token.encode()).decode()
        self.accepted = {f"Token {encoded}".encode(), f"Token {token}".encode()}
        root = f"{base_url}/{name}/ocpi"
        endpoints = [
            {
                "identifier": module,
                "role": role,
                "url": f"{root}/{VERSION}/credentials"
                if module == "credentials"
                else f"{root}/{VERSION}/{module}/{role.lower()}",
            }
            for module, role in spec.get("endpoints", [])
        ]
        self.versions = json.dumps([{"version": VERSION, "url": f"{root}/{VERSION}"}]).encode()
        self.details = json.dumps({"version": VERSION, "endpoints": endpoints}).encode()


class Server:
    def __init__(self, base_url: str, config: dict[str, Any]) -> None:
        self.parties = {
            name.encode(): Party(base_url, name, spec) for name, spec in config["parties"].items()
        }
        self.bodies: dict[bytes, tuple[bytes, bytes]] = {}
        for module, template in config.get("bodies", {}).items():
            head, found, tail = template.encode().partition(PLACEHOLDER)
            if not found:
                raise SystemExit(f"the {module} body template holds no {PLACEHOLDER!r}")
            self.bodies[module.encode()] = (head, tail)
        self.answers = {
            module.encode(): json.dumps(data, separators=(",", ":")).encode()
            for module, data in config.get("answers", {}).items()
        }
        self.record = bool(config.get("record", False))
        self.down: set[bytes] = set()
        self.arrivals = Arrivals()
        self.stats: Counter[str] = Counter()
        self._stamp_second = -1
        self._tail = self._ok = b""
        self._answered: dict[bytes, bytes] = {}

    def _refresh(self) -> None:
        """The envelopes' timestamp, refreshed once a second, and the fixed answers with it."""
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            self._tail = (
                b',"status_code":1000,"status_message":"Success","timestamp":"'
                + stamp.encode()
                + b'"}'
            )
            self._ok = b'{"data":null' + self._tail
            self._answered = {m: b'{"data":' + d + self._tail for m, d in self.answers.items()}

    def _envelope(self, data: bytes) -> bytes:
        self._refresh()
        return b'{"data":' + data + self._tail

    def answer(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes, moment: float
    ) -> tuple[int, bytes]:
        """One OCPI call (the control URLs are handled by the connection)."""
        # ["", party, "ocpi", "versions" | "2.2.1", module, role, ...ids]
        parts = path.split(b"/")
        party = self.parties.get(parts[1]) if len(parts) > 3 and parts[2] == b"ocpi" else None
        if party is None:
            self.stats["not_found"] += 1
            return NOT_FOUND
        if parts[1] in self.down:
            self.stats["answered_503"] += 1
            return DOWN
        if headers.get(b"authorization") not in party.accepted:
            self.stats["bad_token"] += 1
            return BAD_TOKEN
        if parts[3] == b"versions":
            return 200, self._envelope(party.versions)
        if len(parts) == 4 and parts[3] == VERSION.encode():
            return 200, self._envelope(party.details)
        module = parts[4] if len(parts) > 4 else b""
        self.stats[f"{party.kind} {module.decode()} {method.decode()}"] += 1
        if method == b"PUT" and module in self.bodies and len(parts) > 6:
            raw_id = parts[-1]
            object_id = urllib.parse.unquote_to_bytes(raw_id) if b"%" in raw_id else raw_id
            head, tail = self.bodies[module]
            if body != head + object_id + tail:
                self.stats["bad_body"] += 1
                return BAD_BODY
            if self.record:
                self.arrivals.record(object_id.decode(), party.name, moment)
        self._refresh()
        if method == b"GET" and len(parts) > 5 and parts[5] == b"sender":
            return 200, self._answered.get(module, self._ok)
        return 200, self._ok

    def control(self, method: bytes, path: bytes, query: dict[str, str]) -> tuple[int, bytes]:
        """The synchronous control URLs (``/_wait`` is the connection's)."""
        if path == b"/_stats":
            found = dict(self.stats)
            found["duplicates"] = self.arrivals.duplicates
            return 200, json.dumps(found).encode()
        if path == b"/_tag":
            count, first, last = self.arrivals.by_tag.get(query.get("tag", ""), [0, None, None])
            return 200, json.dumps({"count": count, "first": first, "last": last}).encode()
        if path == b"/_down" and method == b"POST":
            party = query.get("party", "").encode()
            if party not in self.parties:
                return 404, b'{"error":"unknown party"}'
            if query.get("on", "1") == "1":
                self.down.add(party)
            else:
                self.down.discard(party)
            return 200, json.dumps({"down": sorted(p.decode() for p in self.down)}).encode()
        return 404, b'{"error":"unknown control URL"}'


class Connection(asyncio.Protocol):
    """HTTP/1.1 with httptools: one request at a time per connection, answered once read."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []
        self.waiting: asyncio.Task[None] | None = None  # a /_wait being answered

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.headers = {}
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        moment = time.monotonic()
        method = self.parser.get_method()
        path, _, raw_query = self.url.partition(b"?")
        keep_alive = self.parser.should_keep_alive()
        if path.startswith(b"/_"):
            query = dict(urllib.parse.parse_qsl(raw_query.decode()))
            if path == b"/_wait":
                self.waiting = asyncio.ensure_future(self._wait(query, keep_alive))
                return
            self._write(*self.server.control(method, path, query), keep_alive)
            return
        answer = self.server.answer(method, path, self.headers, b"".join(self.body), moment)
        self._write(*answer, keep_alive)

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
    print(f"receiver listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    listener.close()


def forward_config(tokens: dict[str, str], location: bytes) -> dict[str, Any]:
    """The forward benchmark's parties: each takes PUTs of ``location`` with the URL's id, and
    answers a GET of its locations sender URL with it."""
    marker = b'"id":"' + json.loads(location)["id"].encode() + b'"'
    if location.count(marker) != 1:
        raise SystemExit(f"the location must hold {marker!r} exactly once")
    template = location.replace(marker, b'"id":"' + PLACEHOLDER + b'"')
    return {
        "parties": {prefix: {"token": token, "kind": prefix} for prefix, token in tokens.items()},
        "bodies": {"locations": template.decode()},
        "answers": {"locations": json.loads(location)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", type=Path, help="parties, body templates, answers")
    parser.add_argument("--token", action="append", default=[], help="PREFIX=TOKEN")
    parser.add_argument("--location", type=Path, help="the location JSON (with --token)")
    args = parser.parse_args()
    if args.config is not None:
        config = json.loads(args.config.read_text())
    elif args.location is not None and args.token:
        tokens = dict(item.split("=", 1) for item in args.token)
        config = forward_config(tokens, args.location.read_bytes())
    else:
        parser.error("give --config, or --token and --location")
    server = Server(f"http://127.0.0.1:{args.port}", config)
    if uvloop is not None:
        uvloop.run(serve(args.port, server))
    else:
        asyncio.run(serve(args.port, server))


if __name__ == "__main__":
    main()
