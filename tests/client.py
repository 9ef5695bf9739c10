"""A tiny synchronous HTTP client for tests (stdlib only): never raises on HTTP errors."""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

HttpResult = tuple[int, dict[str, str], Any]  # (HTTP status, lowercased headers, parsed JSON)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never use env proxies


def request(
    method: str,
    url: str,
    *,
    body: Any = None,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResult:
    """One request; ``body`` is sent as JSON, ``raw`` as it is. The answer's JSON is parsed
    (its text is returned when it is not JSON)."""
    sent = dict(headers or {})
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        sent.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with _OPENER.open(req, timeout=timeout) as resp:
            status, resp_headers, content = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as err:
        status, resp_headers, content = err.code, err.headers, err.read()
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = content.decode(errors="replace")
    return status, {k.lower(): v for k, v in resp_headers.items()}, parsed


def raw_request(
    method: str,
    url: str,
    target: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> HttpResult:
    """One request whose request-target is sent exactly as given (no quoting, no dot-segment
    resolution): what a hostile client can put on the wire. ``url`` gives host and port."""
    parsed = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parsed.hostname or "", parsed.port, timeout=timeout)
    try:
        connection.putrequest(method, target, skip_host=False, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        if body is not None:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        status, resp_headers, content = response.status, response.headers, response.read()
    finally:
        connection.close()
    try:
        parsed_body = json.loads(content) if content else None
    except ValueError:
        parsed_body = content.decode(errors="replace")
    return status, {k.lower(): v for k, v in resp_headers.items()}, parsed_body
