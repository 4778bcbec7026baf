"""The bridge's counters reach `/metrics`: received, published, deleted, dead-lettered by reason, age."""

from __future__ import annotations

import pytest
from django.test import Client

from events import types
from tests.events.bridge.helpers import make_bridge, publish
from tests.events.test_envelope import user_event
from users_service.bridge.stats_export import StatsExporter
from users_service.ops import metrics


@pytest.fixture
def metrics_redis(redis_url, settings):
    settings.METRICS_REDIS_URL = redis_url
    metrics._client.cache_clear()
    yield redis_url
    metrics._client.cache_clear()


@pytest.fixture
def top(sns, sqs):
    from events.topology import TopologyNames, ensure_topology

    return ensure_topology(sns, sqs, TopologyNames(visibility_timeout=1))


def test_counters_are_exported_as_increments_and_gauges_per_process(sns, sqs, top, metrics_redis, db):
    bridge = make_bridge(sqs, top, metrics_redis)
    publish(sns, top, user_event(types.USER_CREATED))
    sqs.send_message(QueueUrl=top.queue_url, MessageBody="{broken")
    while bridge.poll_once().received:
        pass
    exporter = StatsExporter(bridge.stats, loops=2)

    exporter.export()
    exporter.export()  # nothing new: adds nothing

    values = metrics.snapshot()
    assert values["bridge_received_total"] == 2
    assert values["bridge_published_tasks_total"] == 2  # user.created fans out to two tasks
    assert values["bridge_deleted_total"] == 2
    assert values['bridge_dead_lettered_total{reason="bad_json"}'] == 1
    assert values["bridge_batches_total"] >= 1
    gauges = {name.split("{")[0] for name in values if 'source="bridge' in name}
    assert {"bridge_loops", "bridge_last_batch_seconds", "bridge_oldest_message_age_seconds"} <= gauges

    body = Client().get("/metrics").content.decode()
    assert "bridge_received_total 2" in body
    assert 'bridge_dead_lettered_total{reason="bad_json"} 1' in body


def test_health_shows_the_bridge_counters(sns, sqs, top, metrics_redis, db):
    bridge = make_bridge(sqs, top, metrics_redis)
    publish(sns, top, user_event(types.USER_UPDATED))
    bridge.poll_once()
    StatsExporter(bridge.stats, loops=1).export()

    bridge_section = Client().get("/health/").json()["bridge"]
    assert bridge_section["bridge_received_total"] == 1
    assert bridge_section["bridge_deleted_total"] == 1
