"""What only PostgreSQL can show about applying events: concurrent writers of one new user
(its first events, or one event delivered twice at once) settle on one row, the newest version,
and one inbox row per (event, task), without an IntegrityError reaching a task."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory.models import InboxEntry, UserRecord
from users_service.directory.services import ApplyOutcome, apply_user_event

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6
TASK = "directory.apply_user_event"


@pytest.fixture(autouse=True)
def _on_postgresql() -> None:
    # Fail, not skip: on SQLite (one writer at a time) these races cannot happen, and a pass would lie.
    assert connection.vendor == "postgresql", (
        "needs USERS_DATABASE_URL on PostgreSQL (devstack/test.py sets it)"
    )


def run_at_once(envelopes: list[dict], task_names: list[str]) -> list[ApplyOutcome]:
    start = threading.Barrier(len(envelopes))
    outcomes: list[ApplyOutcome] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def apply(envelope: dict, task_name: str) -> None:
        try:
            start.wait(30)
            outcome = apply_user_event(envelope=envelope, task_name=task_name)
            with lock:
                outcomes.append(outcome)
        except BaseException as exc:  # reported below: the test fails on any error in a thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=apply, args=pair) for pair in zip(envelopes, task_names, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    return outcomes


def test_concurrent_first_events_of_one_new_user_leave_the_newest_version():
    user_id = new_user_id()
    envelopes = [
        user_state_event(user_id, version, types.USER_UPDATED, last_name=f"v{version}")
        for version in range(1, THREADS + 1)
    ]
    outcomes = run_at_once(envelopes, [TASK] * THREADS)

    record = UserRecord.objects.get(pk=user_id)
    assert (record.version, record.last_name) == (THREADS, f"v{THREADS}")
    assert ApplyOutcome.APPLIED in outcomes
    assert ApplyOutcome.DUPLICATE not in outcomes
    assert InboxEntry.objects.filter(aggregate_id=user_id).count() == THREADS


def test_one_new_user_event_delivered_concurrently_is_applied_once():
    created = user_state_event(new_user_id(), 1, types.USER_CREATED)
    outcomes = run_at_once([created] * THREADS, [TASK] * THREADS)

    assert Counter(outcomes) == {ApplyOutcome.APPLIED: 1, ApplyOutcome.DUPLICATE: THREADS - 1}
    assert InboxEntry.objects.filter(event_id=created["event_id"]).count() == 1


def test_concurrent_tasks_of_one_event_insert_one_record():
    created = user_state_event(new_user_id(), 1, types.USER_CREATED)
    outcomes = run_at_once([created] * THREADS, [f"task-{i}" for i in range(THREADS)])

    assert Counter(outcomes) == {ApplyOutcome.APPLIED: 1, ApplyOutcome.STALE: THREADS - 1}
    assert UserRecord.objects.filter(pk=created["aggregate_id"]).count() == 1


def test_erase_racing_older_updates_stays_erased():
    user_id = new_user_id()
    apply_user_event(envelope=user_state_event(user_id, 1, types.USER_CREATED), task_name=TASK)
    envelopes = [user_state_event(user_id, 5, types.USER_ERASED)] + [
        user_state_event(user_id, version, types.USER_UPDATED) for version in (2, 3, 4, 4, 3)
    ]
    outcomes = run_at_once(envelopes, [TASK] * THREADS)

    record = UserRecord.objects.get(pk=user_id)
    assert (record.erased, record.version, record.email, record.first_name) == (True, 5, "", "")
    assert ApplyOutcome.DUPLICATE not in outcomes
