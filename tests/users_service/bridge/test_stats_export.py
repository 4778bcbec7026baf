"""The bridge's figures reach `/metrics` and `/health/`: received, published, deleted,
dead-lettered by reason, the hand-off histogram and the oldest message's age."""

from __future__ import annotations

import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from events import types
from tests.events.bridge.helpers import make_bridge, publish
from tests.events.test_envelope import user_event
from users_service.bridge.stats_export import StatsExporter, bridge_stats
from users_service.ops import metrics


@pytest.fixture
def top(sns, sqs):
    from events.topology import TopologyNames, ensure_topology

    return ensure_topology(sns, sqs, TopologyNames(visibility_timeout=1))


def increase(before: dict[str, float], after: dict[str, float], key: str) -> float:
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_counters_are_exported_as_increments(sns, sqs, top, redis_url, db):
    bridge = make_bridge(sqs, top, redis_url, stats=bridge_stats())
    publish(sns, top, user_event(types.USER_CREATED))
    sqs.send_message(QueueUrl=top.queue_url, MessageBody="{broken")
    before = metrics.snapshot()
    while bridge.poll_once().received:
        pass
    exporter = StatsExporter(bridge.stats, loops=2)

    exporter.export()
    exporter.export()  # nothing new: adds nothing

    after = metrics.snapshot()
    assert increase(before, after, "bridge_received_total") == 2
    assert increase(before, after, "bridge_published_tasks_total") == 2  # user.created: two tasks
    assert increase(before, after, "bridge_deleted_total") == 2
    assert increase(before, after, 'bridge_dead_lettered_total{reason="bad_json"}') == 1
    assert increase(before, after, "bridge_batches_total") >= 1
    # One message handed to the broker, one batch timed.
    assert increase(before, after, "bridge_handoff_seconds_count") == 1
    assert increase(before, after, "bridge_batch_seconds_count") >= 1
    assert after["bridge_loops"] == 2

    body = Client().get("/metrics").content.decode()
    scraped = {
        metrics.series(sample.name, sample.labels): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }
    assert scraped["bridge_received_total"] == after["bridge_received_total"]
    assert (
        scraped['bridge_dead_lettered_total{reason="bad_json"}']
        == after['bridge_dead_lettered_total{reason="bad_json"}']
    )


def test_the_oldest_message_age_is_the_bridge_lag_gauge(sns, sqs, top, redis_url, db):
    bridge = make_bridge(sqs, top, redis_url, stats=bridge_stats())
    publish(sns, top, user_event(types.USER_UPDATED))
    bridge.poll_once()
    bridge.stats.oldest_message_age_seconds = 12.5  # as if the message had waited in SQS
    StatsExporter(bridge.stats, loops=1).export()

    values = metrics.snapshot()
    assert metrics.value(metrics.BRIDGE_OLDEST_MESSAGE_AGE, values, combine="max") == 12.5


def test_health_shows_the_bridge_counters(sns, sqs, top, redis_url, db):
    bridge = make_bridge(sqs, top, redis_url, stats=bridge_stats())
    publish(sns, top, user_event(types.USER_UPDATED))
    before = Client().get("/health/").json()["bridge"]
    bridge.poll_once()
    StatsExporter(bridge.stats, loops=1).export()

    after = Client().get("/health/").json()["bridge"]
    assert increase(before, after, "bridge_received_total") == 1
    assert increase(before, after, "bridge_deleted_total") == 1
