"""Counters live in Redis so that every process's counts show up in one `/metrics`."""

from __future__ import annotations

import pytest
from django.test import Client

from users_service.ops import metrics


@pytest.fixture
def metrics_redis(redis_url, settings):
    settings.METRICS_REDIS_URL = redis_url
    metrics._client.cache_clear()
    yield redis_url
    metrics._client.cache_clear()


def test_counters_and_gauges_are_shared_and_served(metrics_redis, db):
    metrics.incr("events_applied_total")
    metrics.incr("events_applied_total", 2)
    metrics.incr("cache_hits_total", labels={"cache": "resources"})
    metrics.publish_gauges("bridge", {"oldest_message_age_seconds": 1.5})

    values = metrics.snapshot()
    assert values["events_applied_total"] == 3
    assert values['cache_hits_total{cache="resources"}'] == 1
    [gauge] = [k for k in values if k.startswith("oldest_message_age_seconds")]
    assert values[gauge] == 1.5

    body = Client().get("/metrics").content.decode()
    assert "events_applied_total 3" in body
    assert 'cache_hits_total{cache="resources"} 1' in body


def test_counting_with_redis_down_does_not_raise(settings, db):
    from devstack.processes import free_port

    settings.METRICS_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    metrics._client.cache_clear()
    try:
        metrics.incr("anything")  # logged, not raised
        assert Client().get("/metrics").status_code == 503
    finally:
        metrics._client.cache_clear()
