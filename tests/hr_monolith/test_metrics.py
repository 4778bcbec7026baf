"""The monolith's `/metrics`: the outbox's backlog, oldest pending row and parked rows read from the
database, and what the relay published and SNS refused, in prometheus_client's text format."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from events.publisher import SnsPublisher
from hr_monolith.outbox import metrics
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.people import services
from tests.hr_monolith.sns_clients import RefusingSns

pytestmark = pytest.mark.django_db


def scrape() -> dict[str, float]:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {
        f"{sample.name}{sorted(sample.labels.items()) or ''}": sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def make_users(count: int) -> None:
    for i in range(count):
        services.user_create(email=f"m{i}@example.com", first_name="M", last_name=str(i))


def relay_once(sns, topology, *, refuse: set[str] = frozenset(), **options) -> None:
    relay = OutboxRelay(SnsPublisher(RefusingSns(sns, set(refuse), times=100), topology.topic_arn), **options)
    try:
        relay.relay_once()
    finally:
        relay.close()


def test_the_backlog_and_its_oldest_row_come_from_the_database():
    make_users(3)
    OutboxEvent.objects.filter(pk=OutboxEvent.objects.order_by("id").first().pk).update(
        created_at=timezone.now() - datetime.timedelta(seconds=90)
    )

    figures = scrape()

    assert figures[metrics.BACKLOG] == 3
    assert 90 <= figures[metrics.OLDEST_PENDING_AGE] < 600
    assert figures[metrics.PARKED_ROWS] == 0
    body = Client().get("/metrics").content.decode()
    assert "# TYPE outbox_backlog gauge" in body
    assert "# HELP outbox_oldest_pending_age_seconds" in body


def test_published_rows_are_counted_with_their_commit_to_publish_time(sns, topology):
    make_users(4)
    before = scrape()

    relay_once(sns, topology)

    after = scrape()
    published = "outbox_published_total[('event_type', 'user.created')]"
    assert after[published] - before.get(published, 0) == 4
    count = "outbox_commit_to_published_seconds_count"
    assert after[count] - before.get(count, 0) == 4
    assert after[metrics.BACKLOG] == 0
    assert after[metrics.OLDEST_PENDING_AGE] == 0


def test_refusals_and_parked_rows_are_counted(sns, topology):
    make_users(2)
    stuck = OutboxEvent.objects.order_by("id").first()
    before = scrape()

    relay_once(sns, topology, refuse={str(stuck.event_id)}, entry_retries=1, max_attempts=2)

    after = scrape()
    entry_errors = "outbox_sns_errors_total[('kind', 'entry')]"
    assert after[entry_errors] - before.get(entry_errors, 0) == 2
    assert after["outbox_parked_total"] - before.get("outbox_parked_total", 0) == 1
    assert after[metrics.PARKED_ROWS] == 1


def test_a_refused_call_counts_as_a_call_error(sns, topology):
    make_users(1)
    before = scrape()
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn + "-missing"))
    try:
        relay.relay_once()
    finally:
        relay.close()

    after = scrape()
    call_errors = "outbox_sns_errors_total[('kind', 'call')]"
    assert after[call_errors] - before.get(call_errors, 0) == 1
