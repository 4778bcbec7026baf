"""The outbox relay publishes pending rows to SNS (moto) and marks only what SNS accepted."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from events.publisher import SnsPublisher
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.people import services
from tests.conftest import receive_all

pytestmark = pytest.mark.django_db


def make_users(count: int) -> list:
    return [
        services.user_create(email=f"u{i}@example.com", first_name="U", last_name=str(i))
        for i in range(count)
    ]


def test_relay_publishes_every_pending_row_once_and_marks_it_sent(sns, sqs, topology):
    users = make_users(23)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=100)
    try:
        outcome = relay.relay_once()
        assert (outcome.claimed, outcome.published, outcome.failed) == (23, 23, 0)
        assert relay.relay_once().claimed == 0
    finally:
        relay.close()

    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert set(OutboxEvent.objects.values_list("attempts", flat=True)) == {1}
    delivered = [json.loads(json.loads(m["Body"])["Message"]) for m in receive_all(sqs, topology.queue_url)]
    assert sorted(e["aggregate_id"] for e in delivered) == sorted(str(u.id) for u in users)
    assert {e["event_type"] for e in delivered} == {"user.created"}


def test_refused_publish_leaves_rows_pending_with_the_error(sns, topology):
    make_users(3)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn + "-missing"))
    try:
        outcome = relay.relay_once()
    finally:
        relay.close()
    assert (outcome.published, outcome.failed) == (0, 3)
    rows = OutboxEvent.objects.all()
    assert all(row.sent_at is None and row.attempts == 1 and row.last_error for row in rows)


def test_relay_outbox_once_command(sns, sqs, topology):
    make_users(4)
    out = io.StringIO()
    call_command("relay_outbox", "--once", stdout=out)
    assert "published 4 events" in out.getvalue()
    assert len(receive_all(sqs, topology.queue_url)) == 4
