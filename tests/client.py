"""A tiny synchronous HTTP client for tests (stdlib only): never raises on HTTP errors."""

from __future__ import annotations

import json
import urllib.error
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
