"""One access line and the request metrics per request, from what the request's ``Exchange``
says of it (README: "Logs", "Monitoring")."""

from __future__ import annotations

from starlette.types import Scope

from hub import logs, metrics
from hub.logs import Exchange
from hub.ocpi.status import SUCCESS
from hub.ocpi.versions import FUNCTIONAL_MODULES, INTERFACES

# What the access line and the metrics say of a request whose client hung up (nginx's word).
CLIENT_CLOSED = 499
# Probes and scrapes: neither logged nor counted.
QUIET = frozenset({"/healthz", "/readyz", "/metrics"})


def labels(path: str) -> tuple[str, str]:
    """The (module, interface) metric labels of a path: a bounded set, never ids."""
    parts = path.split("/")
    if len(parts) > 1 and parts[1] == "admin":
        return "admin", ""
    if len(parts) < 3 or parts[1] != "ocpi":
        return "other", ""
    if parts[2] == "versions" or len(parts) == 3:
        return "versions", ""
    if len(parts) > 4 and parts[3] in INTERFACES and parts[4] in FUNCTIONAL_MODULES:
        return parts[4], INTERFACES[parts[3]]
    if parts[3] in ("credentials", "hubclientinfo", "via"):
        return parts[3], ""
    return "other", ""


def printable(scope: Scope) -> str:
    """The request's path as sent (percent-encoded, so free of line breaks) for log lines."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if isinstance(raw, bytes) else repr(scope["path"])


def record(scope: Scope, exchange: Exchange, http_status: int, elapsed: float) -> None:
    """The request's metrics and its access line; ``elapsed``: seconds from its first byte read
    to its last sent. The duration metric counts the hub's own time, without the time spent
    waiting for a receiver."""
    module, interface = labels(scope["path"])
    ocpi_status = exchange.ocpi_status
    if ocpi_status is None and 200 <= http_status < 300:
        ocpi_status = SUCCESS
    forwarded = exchange.forward_seconds
    own = elapsed - forwarded if forwarded is not None else elapsed
    method = scope.get("method", "")
    metrics.REQUESTS_OF(module, interface, method, ocpi_status or "", http_status).inc()
    metrics.REQUEST_DURATION_OF(module, interface).observe(max(own, 0.0))
    logs.access(
        method,
        printable(scope),
        http_status,
        {
            "ocpi_module": module,
            "sender": exchange.sender,
            "receiver": exchange.receiver,
            "ocpi_status": ocpi_status,
            "http_status": http_status,
            "duration_ms": round(elapsed * 1000, 2),
            "request_id": exchange.request_id,
            "correlation_id": exchange.correlation_id,
        },
    )
