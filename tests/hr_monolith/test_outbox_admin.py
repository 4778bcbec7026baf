"""Outbox housekeeping: retention purge of sent rows, the admin backlog and re-sending rows."""

from __future__ import annotations

import datetime
import io
import os
import signal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from hr_monolith.outbox.management.commands import purge_outbox
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.selectors import outbox_backlog
from hr_monolith.outbox.services import PurgeSchedule
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


def test_health_reports_the_backlog_without_a_login(client):
    """The figures come with the answer, a 503 included: a status page reads them when it matters."""
    healthy = client.get("/health/")
    assert healthy.status_code == 200
    assert healthy.json()["figures"] == {
        "outbox_backlog": 0,
        "outbox_oldest_pending_age_seconds": 0.0,
        "outbox_parked_rows": 0,
    }
    make_users(3)
    age(list(OutboxEvent.objects.order_by("id"))[:1], created_days_ago=1)
    behind = client.get("/health/")
    assert (behind.status_code, behind.json()["failing"]) == (503, ["outbox"])
    figures = behind.json()["figures"]
    assert figures["outbox_backlog"] == 3
    assert 86_000 < figures["outbox_oldest_pending_age_seconds"] < 87_000
    assert figures["outbox_parked_rows"] == 0


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


def staff_with(client, *codenames: str):
    account = get_user_model().objects.create_user(f"staff-{len(codenames)}", is_staff=True)
    account.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="outbox", codename__in=codenames)
    )
    client.force_login(account)
    return client


def resend(client, rows):
    return client.post(
        "/admin/outbox/outboxevent/", {"action": "resend", "_selected_action": [str(r.pk) for r in rows]}
    )


def test_resending_needs_its_own_permission(client):
    make_users(2)
    rows = list(OutboxEvent.objects.order_by("id"))
    age(rows, sent_days_ago=0)
    viewer = staff_with(client, "view_outboxevent", "change_outboxevent", "delete_outboxevent")
    assert "Re-send selected events" not in viewer.get("/admin/outbox/outboxevent/").content.decode()
    resend(viewer, rows)
    assert not OutboxEvent.objects.pending().exists()

    resender = staff_with(client, "view_outboxevent", "resend_outboxevent")
    assert "Re-send selected events" in resender.get("/admin/outbox/outboxevent/").content.decode()
    resend(resender, rows)
    assert OutboxEvent.objects.pending().count() == 2


def test_pending_rows_cannot_be_deleted_from_admin_sent_rows_can(admin_client):
    make_users(3)
    rows = list(OutboxEvent.objects.order_by("id"))
    age(rows[:2], sent_days_ago=1)
    pending = rows[2]
    delete_page = f"/admin/outbox/outboxevent/{pending.pk}/delete/"
    assert admin_client.get(delete_page).status_code == 403
    assert admin_client.post(delete_page, {"post": "yes"}).status_code == 403

    def delete_selected(chosen):
        selected = [str(r.pk) for r in chosen]
        admin_client.post(
            "/admin/outbox/outboxevent/",
            {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
        )

    # The bulk action refuses a selection that holds a pending row, and deletes nothing.
    delete_selected(rows)
    assert OutboxEvent.objects.count() == 3
    delete_selected(rows[:2])
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [pending.pk]


def test_admin_shows_failed_rows_and_resends_them(admin_client):
    make_users(3)
    rows = list(OutboxEvent.objects.order_by("id"))
    OutboxEvent.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(
        failed_at=timezone.now(), refusals=10, last_error="InvalidParameter: refused"
    )
    page = admin_client.get("/admin/outbox/outboxevent/").content.decode()
    assert "Outbox: 1 pending" in page
    assert "2 failed (parked: re-send them)" in page
    listing = admin_client.get("/admin/outbox/outboxevent/", {"state": "failed"})
    assert listing.context["cl"].result_count == 2

    resend(admin_client, rows[:1])
    row = OutboxEvent.objects.get(pk=rows[0].pk)
    assert (row.state, row.refusals, row.failed_at) == ("pending", 0, None)
    assert OutboxEvent.objects.failed().count() == 1


def test_the_purge_schedule_deletes_old_sent_rows_a_batch_per_step_when_due():
    make_users(5)
    rows = list(OutboxEvent.objects.order_by("id"))
    age(rows[:3], sent_days_ago=8)
    age(rows[3:4], sent_days_ago=1)
    age(rows[4:], created_days_ago=30)  # pending: never purged
    now = [0.0]
    schedule = PurgeSchedule(
        retention=datetime.timedelta(days=7), interval_seconds=3600, batch_size=2, clock=lambda: now[0]
    )
    assert [schedule.step() for _ in range(3)] == [2, 1, 0]
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [rows[3].pk, rows[4].pk]
    age(rows[3:4], sent_days_ago=8)
    assert schedule.step() == 0  # the next purge is an interval away
    now[0] = 3600
    assert schedule.step() == 1
    assert list(OutboxEvent.objects.values_list("pk", flat=True)) == [rows[4].pk]


def test_the_relay_loop_runs_the_purge(sns, topology):
    from events.publisher import SnsPublisher
    from hr_monolith.outbox.relay import OutboxRelay
    from tests.hr_monolith.test_relay import _StopAtFirstWait

    make_users(2)
    age(OutboxEvent.objects.all(), sent_days_ago=8)
    schedule = PurgeSchedule(retention=datetime.timedelta(days=7), interval_seconds=3600)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), purge=schedule)
    try:
        relay.run(_StopAtFirstWait(), poll_interval=0.2)
    finally:
        relay.close()
    assert schedule.deleted == 2
    assert not OutboxEvent.objects.exists()


def test_purge_stops_between_batches_on_sigterm_and_restores_the_signal_handlers(monkeypatch):
    def batches_with_a_sigterm_after_the_first(**_):
        yield 10
        os.kill(os.getpid(), signal.SIGTERM)
        yield 10
        yield 10

    monkeypatch.setattr(purge_outbox, "outbox_purge", batches_with_a_sigterm_after_the_first)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    out = io.StringIO()

    call_command("purge_outbox", stdout=out)

    assert "deleted 20 sent outbox rows" in out.getvalue()
    assert "(stopped early)" in out.getvalue()
    assert {sig: signal.getsignal(sig) for sig in before} == before
