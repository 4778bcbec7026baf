"""Outbox housekeeping: retention purge of sent rows, the admin backlog and re-sending rows."""

from __future__ import annotations

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.selectors import outbox_backlog
from tests.hr_monolith.test_relay import make_users

pytestmark = pytest.mark.django_db


def age(rows, *, sent_days_ago: float | None = None, created_days_ago: float | None = None) -> None:
    now = timezone.now()
    for row in rows:
        fields = {}
        if sent_days_ago is not None:
            fields["sent_at"] = now - datetime.timedelta(days=sent_days_ago)
        if created_days_ago is not None:
            fields["created_at"] = now - datetime.timedelta(days=created_days_ago)
        OutboxEvent.objects.filter(pk=row.pk).update(**fields)


def test_purge_deletes_only_sent_rows_older_than_the_retention(settings):
    settings.OUTBOX_RETENTION_DAYS = 7
    make_users(10)
    rows = list(OutboxEvent.objects.order_by("id"))
    old_sent, recent_sent, old_pending = rows[:4], rows[4:7], rows[7:]
    age(old_sent, sent_days_ago=8, created_days_ago=9)
    age(recent_sent, sent_days_ago=6)
    age(old_pending, created_days_ago=30)

    out = io.StringIO()
    call_command("purge_outbox", "--batch-size", "3", stdout=out)

    assert "deleted 4 sent outbox rows older than 7 days" in out.getvalue()
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {r.pk for r in recent_sent + old_pending}


def test_purge_retention_can_be_overridden_per_run():
    make_users(3)
    age(OutboxEvent.objects.all(), sent_days_ago=2)
    call_command("purge_outbox", "--older-than-days", "1", stdout=io.StringIO())
    assert not OutboxEvent.objects.exists()
    with pytest.raises(CommandError):
        call_command("purge_outbox", "--older-than-days", "-1")


def test_backlog_counts_pending_rows_and_their_oldest_age():
    assert outbox_backlog().pending == 0
    assert outbox_backlog().oldest_age_seconds is None
    make_users(5)
    rows = list(OutboxEvent.objects.order_by("id"))
    age(rows[:2], sent_days_ago=0)
    age(rows[2:3], created_days_ago=1)
    backlog = outbox_backlog()
    assert backlog.pending == 3
    assert 86_000 < backlog.oldest_age_seconds < 87_000


@pytest.fixture
def admin_client(client):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(admin)
    return client


def test_admin_shows_the_backlog(admin_client):
    make_users(3)
    age(OutboxEvent.objects.order_by("id")[:1], created_days_ago=1)
    response = admin_client.get("/admin/outbox/outboxevent/")
    assert response.status_code == 200
    assert "Outbox: 3 pending, oldest 864" in response.content.decode()


def test_admin_resends_chosen_rows(admin_client):
    make_users(4)
    rows = list(OutboxEvent.objects.order_by("id"))
    age(rows, sent_days_ago=0)
    chosen = [rows[1].pk, rows[3].pk]
    response = admin_client.post(
        "/admin/outbox/outboxevent/",
        {"action": "resend", "_selected_action": [str(pk) for pk in chosen]},
    )
    assert response.status_code == 302
    assert set(OutboxEvent.objects.filter(sent_at__isnull=True).values_list("pk", flat=True)) == set(chosen)
