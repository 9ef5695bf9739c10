"""A lean OCPI module server for the benchmark: uvloop + httptools, no framework.

It serves the module URLs of two parties under two prefixes (``/emsp/...`` and ``/cpo/...``)
that a ``FakePlatform`` announced to the hub in its version details (the FakePlatform did the
credentials handshake; this process only answers the measured traffic):

* any module URL: the OCPI envelope ``{"data": null, "status_code": 1000, ...}``;
* ``GET {prefix}/ocpi/2.2.1/locations/sender/{id}``: the same envelope with the location;
* ``GET /_stats``: what it received, as JSON (requests by prefix and method, bad tokens,
  PUT bodies that differ from the expected body: the location with the URL's id).

It checks the ``Authorization`` header of every module call against the tokens it was given
and echoes ``X-Request-ID``/``X-Correlation-ID``. Answers are built from cached bytes; the
envelope's timestamp is refreshed once a second.

    python benchmarks/receiver.py --port P --token emsp=TOKEN --token cpo=TOKEN \
        --location FILE
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import signal
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import httptools

try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None  # type: ignore[assignment]

VERSION = b"/ocpi/2.2.1/"


class Receiver:
    def __init__(self, tokens: dict[str, str], location: bytes) -> None:
        # prefix -> accepted Authorization header values (Base64 and raw)
        self.accepted: dict[bytes, set[bytes]] = {}
        for prefix, token in tokens.items():
            encoded = base64.b64encode(token.encode()).decode()
            self.accepted[f"/{prefix}".encode()] = {
                f"Token {encoded}".encode(),
                f"Token {token}".encode(),
            }
        self.location = location
        # A PUT must carry the location byte for byte, with the URL's id as its id (put-new
        # sends a new id every time).
        self.location_id = json.loads(location)["id"].encode()
        marker = b'"id":"' + self.location_id + b'"'
        if location.count(marker) != 1:
            raise SystemExit(f"the location must hold {marker!r} exactly once")
        head, _, tail = location.partition(marker)
        self.put_head, self.put_tail = head + b'"id":"', b'"' + tail
        self.stats: Counter[str] = Counter()
        self._stamp_second = -1
        self._ok_null = b""
        self._ok_location = b""

    def _envelopes(self) -> tuple[bytes, bytes]:
        second = int(time.time())
        if second != self._stamp_second:
            self._stamp_second = second
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            tail = b',"status_code":1000,"status_message":"Success","timestamp":"'
            tail += stamp.encode() + b'"}'
            self._ok_null = b'{"data":null' + tail
            self._ok_location = b'{"data":' + self.location + tail
        return self._ok_null, self._ok_location

    def answer(
        self, method: bytes, path: bytes, headers: dict[bytes, bytes], body: bytes
    ) -> tuple[int, bytes]:
        if path == b"/_stats":
            return 200, json.dumps(dict(self.stats)).encode()
        prefix, _, rest = path[1:].partition(b"/")
        prefix = b"/" + prefix
        accepted = self.accepted.get(prefix)
        if accepted is None or not rest.startswith(VERSION[1:]):
            self.stats["not_found"] += 1
            return 404, b'{"data":null,"status_code":2000,"status_message":"not found"}'
        if headers.get(b"authorization") not in accepted:
            self.stats["bad_token"] += 1
            return 401, b'{"data":null,"status_code":2000,"status_message":"bad token"}'
        self.stats[f"{prefix.decode()} {method.decode()}"] += 1
        ok_null, ok_location = self._envelopes()
        module = rest[len(VERSION) - 1 :]
        if method == b"PUT" and module.startswith(b"locations/receiver/"):
            object_id = module.rpartition(b"/")[2]
            if body != self.put_head + object_id + self.put_tail:
                self.stats["bad_body"] += 1
                return 400, b'{"data":null,"status_code":2001,"status_message":"body differs"}'
            return 200, ok_null
        if method == b"GET" and module.startswith(b"locations/sender/"):
            return 200, ok_location
        return 200, ok_null


class HttpConnection(asyncio.Protocol):
    """HTTP/1.1 request parsing with httptools; subclasses answer in on_message_complete.
    Shared with broadcast_receiver.py."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.headers: dict[bytes, bytes] = {}
        self.body: list[bytes] = []

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


class Connection(HttpConnection):
    def __init__(self, receiver: Receiver) -> None:
        super().__init__()
        self.receiver = receiver

    def on_message_complete(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        method = self.parser.get_method()
        path = self.url.partition(b"?")[0]
        status, content = self.receiver.answer(method, path, self.headers, b"".join(self.body))
        reason = {200: b"OK", 400: b"Bad Request", 401: b"Unauthorized"}.get(status, b"Not Found")
        head = [
            b"HTTP/1.1 %d %s" % (status, reason),
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
        keep_alive = self.parser.should_keep_alive()
        if not keep_alive:
            head.append(b"Connection: close")
        transport.write(b"\r\n".join(head) + b"\r\n\r\n" + content)
        if not keep_alive:
            transport.close()


async def serve(port: int, receiver: Receiver) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Connection(receiver), "127.0.0.1", port, backlog=1024, reuse_address=True
    )
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"receiver listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token", action="append", default=[], help="PREFIX=TOKEN")
    parser.add_argument("--location", type=Path, required=True, help="the location JSON")
    args = parser.parse_args()
    tokens = dict(item.split("=", 1) for item in args.token)
    # The location as the load generator sends it (compact JSON), byte for byte.
    location = args.location.read_bytes()
    receiver = Receiver(tokens, location)
    if uvloop is not None:
        uvloop.run(serve(args.port, receiver))
    else:
        asyncio.run(serve(args.port, receiver))


if __name__ == "__main__":
    main()
