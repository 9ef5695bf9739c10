"""Pre-bound metric children (hub/metrics.py ``Children``)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, generate_latest

from hub.metrics import Children


def test_a_child_is_the_metrics_own_for_the_same_label_text() -> None:
    counter = Counter("calls_total", "calls", ["module", "status"], registry=None)
    children = Children(counter)
    children("locations", "").inc()
    children("locations", "").inc()
    children("tokens", 1000).inc()
    assert children("tokens", 1000) is counter.labels("tokens", "1000")
    registry = CollectorRegistry()
    registry.register(counter)
    text = generate_latest(registry).decode()
    assert 'calls_total{module="locations",status=""} 2.0' in text
    assert 'calls_total{module="tokens",status="1000"} 1.0' in text
