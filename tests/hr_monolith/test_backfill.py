"""`backfill_users`: one snapshot event per user into the outbox, in batches, filtered on request,
and resumable after an interruption without skipping or repeating a user."""

from __future__ import annotations

import io
import os
import signal
from collections import Counter

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from events import types
from events.envelope import Envelope
from hr_monolith.catalogue import services as catalogue
from hr_monolith.outbox.models import OutboxBackfill, OutboxEvent
from hr_monolith.people import backfill, events
from hr_monolith.people.models import User

pytestmark = pytest.mark.django_db

USERS = 3000


@pytest.fixture
def many_users(db) -> list[User]:
    """A few thousand employees, inserted directly: their creation events are not the subject."""
    eng = catalogue.catalogue_entry_create(kind="departments", code="ENG", name="Engineering")
    fin = catalogue.catalogue_entry_create(kind="departments", code="FIN", name="Finance")
    User.objects.bulk_create(
        User(
            email=f"e{i:05d}@example.com",
            first_name="E",
            last_name=str(i),
            department=eng if i % 3 else fin,
            is_active=i % 10 != 0,
            version=1 + i % 4,
        )
        for i in range(USERS)
    )
    return list(User.objects.all())


def backfill_events(run: OutboxBackfill) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(envelope__trace_id=run.trace_id))


def assert_each_user_once(run: OutboxBackfill, users: list[User]) -> None:
    rows = backfill_events(run)
    counts = Counter(row.aggregate_id for row in rows)
    assert counts == Counter({str(u.id): 1 for u in users})
    versions = {str(u.id): u.version for u in users}
    for row in rows:
        envelope = Envelope.from_dict(row.envelope)  # what a consumer will check
        assert envelope.event_type == types.USER_UPDATED
        assert envelope.aggregate_version == versions[row.aggregate_id]
    run.refresh_from_db()
    assert run.finished_at is not None
    assert run.emitted == len(users)


def test_backfill_writes_one_snapshot_per_user_in_batches(many_users):
    out = io.StringIO()
    call_command("backfill_users", "--batch-size", "400", stdout=out)
    run = OutboxBackfill.objects.get()
    assert f"finished: {USERS} events" in out.getvalue()
    assert_each_user_once(run, many_users)


def test_backfill_filters_by_department_and_state(many_users):
    call_command("backfill_users", "--department", "FIN", "--active", stdout=io.StringIO())
    run = OutboxBackfill.objects.get()
    chosen = [u for u in many_users if u.department.code == "FIN" and u.is_active]
    assert 0 < len(chosen) < USERS
    assert_each_user_once(run, chosen)


def test_an_interrupted_backfill_resumes_where_it_stopped(many_users):
    run = backfill.backfill_start()
    assert backfill.backfill_batch(run, batch_size=700) == 700
    assert backfill.backfill_batch(run, batch_size=700) == 700

    with pytest.raises(CommandError, match="unfinished"):
        call_command("backfill_users", stdout=io.StringIO())
    out = io.StringIO()
    call_command("backfill_users", "--resume", "--batch-size", "500", stdout=out)
    assert f"resuming backfill #{run.pk} after 1400 events" in out.getvalue()
    assert_each_user_once(run, many_users)


def test_a_batch_that_fails_halfway_is_rolled_back_and_redone_on_resume(many_users, monkeypatch):
    real = events.user_updated_event
    calls = {"n": 0}

    def crashes_at_the_1234th(user):
        calls["n"] += 1
        if calls["n"] == 1234:
            raise ConnectionError("the database went away")
        return real(user)

    monkeypatch.setattr(events, "user_updated_event", crashes_at_the_1234th)
    with pytest.raises(ConnectionError):
        call_command("backfill_users", "--batch-size", "500", stdout=io.StringIO())
    run = OutboxBackfill.objects.get()
    # Two whole batches committed; the third died with its progress.
    assert (run.emitted, len(backfill_events(run))) == (1000, 1000)

    monkeypatch.setattr(events, "user_updated_event", real)
    call_command("backfill_users", "--resume", stdout=io.StringIO())
    assert_each_user_once(run, many_users)


def test_resume_without_an_unfinished_run_is_a_user_error(db):
    with pytest.raises(CommandError, match="no unfinished backfill"):
        call_command("backfill_users", "--resume")


def test_sigterm_stops_the_backfill_after_the_batch_in_hand_and_restores_the_signal_handlers(
    many_users, monkeypatch
):
    real = backfill.backfill_batch

    def batch_then_sigterm(run, *, batch_size):
        written = real(run, batch_size=batch_size)
        os.kill(os.getpid(), signal.SIGTERM)
        return written

    monkeypatch.setattr(backfill, "backfill_batch", batch_then_sigterm)
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    out = io.StringIO()

    call_command("backfill_users", "--batch-size", "500", stdout=out)

    run = OutboxBackfill.objects.get()
    assert run.emitted == 500
    assert "interrupted after 500 events; continue with --resume" in out.getvalue()
    assert {sig: signal.getsignal(sig) for sig in before} == before
