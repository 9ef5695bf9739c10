"""Every Prometheus metric of the hub, in one place.

Names are ``ocpi_hub_<noun>_<unit>``; labels are bounded: modules, interfaces, methods, status
codes, outcomes and platform ids (where the per-platform view is the point), never ids of
objects, tokens or URLs.

Counters and histograms are kept per process; with ``--workers N`` prometheus-client's
multiprocess mode sums them (the CLI sets ``PROMETHEUS_MULTIPROC_DIR`` for the workers before
they start). Gauges of shared state (queues, platforms) are read from Redis when scraped, so every
process reports the same, whole numbers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hub import __version__

CONTENT_TYPE = CONTENT_TYPE_LATEST

M = TypeVar("M", Counter, Histogram)


class Children(Generic[M]):
    """A metric's children by their label values, each looked up (and its values turned into
    label text) once: ``labels()`` checks and formats its values and takes a lock on every
    call, and the request path counts several metrics per call. The values are those the
    metric is given anyway, so the cache holds no more children than the metric does."""

    def __init__(self, metric: M) -> None:
        self._metric: M = metric
        self._children: dict[tuple[object, ...], M] = {}

    def __call__(self, *values: object) -> M:
        """The child for ``values``, as ``labels(*map(str, values))``."""
        child = self._children.get(values)
        if child is None:
            child = self._children[values] = self._metric.labels(*map(str, values))
        return child


# Latency buckets: a forward on a LAN takes milliseconds, a slow platform seconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

REQUESTS = Counter(
    "ocpi_hub_requests_total",
    "OCPI requests the hub answered",
    ["module", "interface", "method", "ocpi_status", "http_status"],
    registry=None,  # registered per scrape, not in a global registry at import
)
REQUEST_DURATION = Histogram(
    "ocpi_hub_request_duration_seconds",
    "Time the hub spent on a request, without the receiver's time",
    ["module", "interface"],
    buckets=_BUCKETS,
    registry=None,  # registered per scrape, not in a global registry at import
)
FORWARD_DURATION = Histogram(
    "ocpi_hub_forward_duration_seconds",
    "Time a receiver took to answer a forwarded request",
    ["module"],
    buckets=_BUCKETS,
    registry=None,  # registered per scrape, not in a global registry at import
)
ROUTING = Counter(
    "ocpi_hub_routing_total",
    "Routing decisions: direct, open, broadcast, served (GET-all), callback, refused",
    ["module", "mode", "reason"],
    registry=None,  # registered per scrape, not in a global registry at import
)
# The children of the metrics counted on every forwarded call.
REQUESTS_OF = Children(REQUESTS)
REQUEST_DURATION_OF = Children(REQUEST_DURATION)
FORWARD_DURATION_OF = Children(FORWARD_DURATION)
ROUTING_OF = Children(ROUTING)
RATE_LIMITED = Counter(
    "ocpi_hub_rate_limited_total",
    "Calls refused with HTTP 429 because their platform was over its rate limit",
    ["module"],
    registry=None,  # registered per scrape, not in a global registry at import
)
WITHHELD = Counter(
    "ocpi_hub_withheld_total",
    "Objects removed from receivers' answers because they were not the caller's to see",
    ["module"],
    registry=None,  # registered per scrape, not in a global registry at import
)
TRANSLATED = Counter(
    "ocpi_hub_translated_total",
    "Objects translated between the core's OCPI 2.2.1 and another version, by module, that "
    "version, direction (up: toward the newer version) and outcome (ok, or withheld: it could "
    "not be carried)",
    ["module", "version", "direction", "outcome"],
    registry=None,  # registered per scrape, not in a global registry at import
)
DELIVERIES = Counter(
    "ocpi_hub_deliveries_total",
    "Queued messages handled, by outcome: delivered, retried, parked, superseded",
    ["platform", "outcome"],
    registry=None,  # registered per scrape, not in a global registry at import
)
KEPT = Counter(
    "ocpi_hub_kept_total",
    "Sessions and CDRs delivered to an eMSP and kept for it to pull again, by outcome: kept, "
    "missing (a PATCH of a session the hub does not keep), failed (delivered, not kept)",
    ["module", "outcome"],
    registry=None,  # registered per scrape, not in a global registry at import
)
UNROUTED = Counter(
    "ocpi_hub_unrouted_total",
    "Sessions and CDRs whose eMSP the hub could not find, parked for the operator",
    ["module"],
    registry=None,  # registered per scrape, not in a global registry at import
)
HANDSHAKES = Counter(
    "ocpi_hub_handshakes_total",
    "Credentials handshakes and rotations, by who started them, how they ended and their OCPI "
    "version",
    ["kind", "initiator", "outcome", "version"],
    registry=None,  # registered per scrape, not in a global registry at import
)


class SharedState(Collector):
    """Queue depth and age, dead letters, platforms by status, unrouted sessions and CDRs and
    the embedded Redis, read at scrape time. ``snapshot`` is filled by the web layer just before
    each scrape (a collector cannot await)."""

    def __init__(self) -> None:
        # (platform id, messages waiting, age of the oldest in seconds, dead letters)
        self.queues: list[tuple[str, int, float | None, int]] = []
        self.platforms: dict[str, int] = {}
        self.redis_up: bool | None = None
        self.unrouted = 0

    def collect(self) -> Iterable[Metric]:
        depth = GaugeMetricFamily(
            "ocpi_hub_queue_depth", "Messages waiting per receiving platform", labels=["platform"]
        )
        age = GaugeMetricFamily(
            "ocpi_hub_queue_oldest_age_seconds",
            "Age of the oldest waiting message per receiving platform",
            labels=["platform"],
        )
        dead = GaugeMetricFamily(
            "ocpi_hub_dead_letters", "Parked messages per receiving platform", labels=["platform"]
        )
        for platform_id, waiting, oldest, parked in self.queues:
            depth.add_metric([platform_id], waiting)
            age.add_metric([platform_id], oldest or 0.0)
            dead.add_metric([platform_id], parked)
        statuses = GaugeMetricFamily("ocpi_hub_platforms", "Platforms by status", labels=["status"])
        for status in ("PLANNED", "CONNECTED", "OFFLINE", "SUSPENDED"):
            statuses.add_metric([status], self.platforms.get(status, 0))
        info = GaugeMetricFamily("ocpi_hub_build_info", "The hub's version", labels=["version"])
        info.add_metric([__version__], 1)
        unrouted = GaugeMetricFamily(
            "ocpi_hub_unrouted",
            "Sessions and CDRs parked because the hub could not find their eMSP",
        )
        unrouted.add_metric([], self.unrouted)
        found = [depth, age, dead, statuses, info, unrouted]
        if self.redis_up is not None:
            up = GaugeMetricFamily(
                "ocpi_hub_embedded_redis_up", "1 when the embedded Redis answers"
            )
            up.add_metric([], 1 if self.redis_up else 0)
            found.append(up)
        return found


def exposition(state: SharedState, *, multiprocess_mode: bool) -> bytes:
    """The text of /metrics: this process's metrics (or all workers' in multiprocess mode) and
    the shared state."""
    registry = CollectorRegistry()
    if multiprocess_mode:
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        for metric in (
            REQUESTS,
            REQUEST_DURATION,
            FORWARD_DURATION,
            ROUTING,
            DELIVERIES,
            HANDSHAKES,
            WITHHELD,
            TRANSLATED,
            RATE_LIMITED,
            KEPT,
            UNROUTED,
        ):
            registry.register(metric)
    registry.register(state)
    return generate_latest(registry)
