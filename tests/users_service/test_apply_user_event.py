"""The read model applies each event once, in version order, and never resurrects an erased user."""

from __future__ import annotations

import pytest

from events import types
from events.errors import InvalidEvent
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory.models import InboxEntry, UserRecord
from users_service.directory.services import ApplyOutcome, apply_user_event

pytestmark = pytest.mark.django_db
TASK = "directory.apply_user_event"


def apply(envelope) -> ApplyOutcome:
    return apply_user_event(envelope=envelope, task_name=TASK)


def test_created_event_creates_the_record():
    user_id = new_user_id()
    assert apply(user_state_event(user_id, 1, types.USER_CREATED)) is ApplyOutcome.APPLIED
    record = UserRecord.objects.get(pk=user_id)
    assert (record.version, record.last_name, record.department, record.erased) == (1, "v1", "ENG", False)


def test_duplicate_event_is_applied_once():
    user_id = new_user_id()
    created = user_state_event(user_id, 1, types.USER_CREATED)
    outcomes = [apply(created) for _ in range(3)]
    assert outcomes == [ApplyOutcome.APPLIED, ApplyOutcome.DUPLICATE, ApplyOutcome.DUPLICATE]
    assert InboxEntry.objects.filter(event_id=created["event_id"]).count() == 1


def test_older_event_after_newer_changes_nothing():
    user_id = new_user_id()
    events = [
        user_state_event(user_id, v, types.USER_CREATED if v == 1 else types.USER_UPDATED) for v in (1, 2, 3)
    ]
    outcomes = [apply(e) for e in reversed(events)]
    assert outcomes == [ApplyOutcome.APPLIED, ApplyOutcome.STALE, ApplyOutcome.STALE]
    record = UserRecord.objects.get(pk=user_id)
    assert (record.version, record.last_name) == (3, "v3")
    assert InboxEntry.objects.filter(outcome="stale").count() == 2


def test_deactivation_is_applied():
    user_id = new_user_id()
    apply(user_state_event(user_id, 1, types.USER_CREATED))
    apply(user_state_event(user_id, 2, types.USER_DEACTIVATED, is_active=False))
    assert UserRecord.objects.get(pk=user_id).is_active is False


def test_erase_leaves_a_tombstone_without_personal_data():
    user_id = new_user_id()
    apply(user_state_event(user_id, 1, types.USER_CREATED))
    assert apply(user_state_event(user_id, 2, types.USER_ERASED)) is ApplyOutcome.APPLIED
    record = UserRecord.objects.get(pk=user_id)
    assert record.erased
    assert record.version == 2
    assert (record.email, record.first_name, record.last_name, record.department) == ("", "", "", None)


def test_update_after_erase_stays_erased():
    user_id = new_user_id()
    apply(user_state_event(user_id, 2, types.USER_ERASED))
    assert apply(user_state_event(user_id, 3, types.USER_UPDATED)) is ApplyOutcome.STALE
    assert apply(user_state_event(user_id, 1, types.USER_CREATED)) is ApplyOutcome.STALE
    record = UserRecord.objects.get(pk=user_id)
    assert record.erased
    assert record.email == ""


def test_invalid_envelope_is_refused_before_anything_is_written():
    bad = user_state_event(new_user_id(), 1, types.USER_CREATED)
    del bad["payload"]["email"]
    with pytest.raises(InvalidEvent):
        apply(bad)
    assert not InboxEntry.objects.exists()
    assert not UserRecord.objects.exists()


def test_the_celery_task_runs_the_service():
    from users_service.directory.tasks import apply_user_event as task

    user_id = new_user_id()
    result = task.apply(args=[user_state_event(user_id, 1, types.USER_CREATED)])
    assert result.get() == "applied"
    assert UserRecord.objects.filter(pk=user_id).exists()


def test_whole_history_in_reverse_order_ends_erased():
    user_id = new_user_id()
    history = [
        user_state_event(user_id, 1, types.USER_CREATED),
        user_state_event(user_id, 2, types.USER_UPDATED),
        user_state_event(user_id, 3, types.USER_DEACTIVATED, is_active=False),
        user_state_event(user_id, 4, types.USER_ERASED),
    ]
    outcomes = [apply(e) for e in reversed(history)]
    assert outcomes == [ApplyOutcome.APPLIED, *[ApplyOutcome.STALE] * 3]
    record = UserRecord.objects.get(pk=user_id)
    assert (record.erased, record.version, record.email, record.is_active) == (True, 4, "", False)


def test_each_task_of_an_event_has_its_own_inbox_row():
    created = user_state_event(new_user_id(), 1, types.USER_CREATED)
    assert apply_user_event(envelope=created, task_name="a") is ApplyOutcome.APPLIED
    # A second task of the same event finds the read model already at that version.
    assert apply_user_event(envelope=created, task_name="b") is ApplyOutcome.STALE
    assert apply_user_event(envelope=created, task_name="b") is ApplyOutcome.DUPLICATE
    assert InboxEntry.objects.filter(event_id=created["event_id"]).count() == 2


def test_duplicates_interleaved_with_newer_events_apply_each_once():
    user_id = new_user_id()
    v1 = user_state_event(user_id, 1, types.USER_CREATED)
    v2 = user_state_event(user_id, 2, types.USER_UPDATED)
    outcomes = [apply(e) for e in (v2, v1, v2, v1, v2)]
    assert outcomes == [
        ApplyOutcome.APPLIED,
        ApplyOutcome.STALE,
        ApplyOutcome.DUPLICATE,
        ApplyOutcome.DUPLICATE,
        ApplyOutcome.DUPLICATE,
    ]
    assert UserRecord.objects.get(pk=user_id).last_name == "v2"


def test_update_of_an_unknown_user_inserts_the_record():
    user_id = new_user_id()
    assert apply(user_state_event(user_id, 5, types.USER_UPDATED, last_name="Late")) is ApplyOutcome.APPLIED
    record = UserRecord.objects.get(pk=user_id)
    assert (record.version, record.last_name, record.erased, record.start_date.isoformat()) == (
        5,
        "Late",
        False,
        "2020-01-02",
    )
    assert record.last_event_id is not None
    assert record.updated_at is not None


def test_equal_version_from_another_event_is_stale():
    user_id = new_user_id()
    apply(user_state_event(user_id, 2, types.USER_UPDATED, last_name="first"))
    assert apply(user_state_event(user_id, 2, types.USER_UPDATED, last_name="second")) is ApplyOutcome.STALE
    assert UserRecord.objects.get(pk=user_id).last_name == "first"


def test_erase_of_an_unknown_user_leaves_a_tombstone_that_later_creates_cannot_fill():
    user_id = new_user_id()
    assert apply(user_state_event(user_id, 3, types.USER_ERASED)) is ApplyOutcome.APPLIED
    assert apply(user_state_event(user_id, 9, types.USER_CREATED)) is ApplyOutcome.STALE
    record = UserRecord.objects.get(pk=user_id)
    assert (record.erased, record.version, record.email, record.is_active) == (True, 3, "", False)


def _statements(queries) -> list[str]:
    # Transaction control (BEGIN/COMMIT/SAVEPOINT) is logged too; count only the work.
    return [
        q["sql"].split()[0].upper()
        for q in queries
        if q["sql"].split()[0].upper() in {"SELECT", "INSERT", "UPDATE", "DELETE"}
    ]


def test_an_event_costs_one_statement_on_postgresql_two_elsewhere_and_stale_one_more():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user_id = new_user_id()
    older = user_state_event(user_id, 1, types.USER_CREATED)
    with CaptureQueriesContext(connection) as applied:
        assert apply(user_state_event(user_id, 2, types.USER_UPDATED)) is ApplyOutcome.APPLIED
    with CaptureQueriesContext(connection) as stale:
        assert apply(older) is ApplyOutcome.STALE
    with CaptureQueriesContext(connection) as duplicate:
        assert apply(older) is ApplyOutcome.DUPLICATE
    if connection.vendor == "postgresql":
        # The record and the inbox row in one statement, its own transaction (no BEGIN/COMMIT).
        assert [q["sql"].split()[0].upper() for q in (*applied, *stale, *duplicate)] == ["WITH"] * 3
    else:
        assert _statements(applied) == ["INSERT", "INSERT"]
        assert _statements(stale) == ["INSERT", "INSERT", "UPDATE"]
        assert _statements(duplicate) == ["INSERT"]
    inbox = InboxEntry.objects.filter(aggregate_id=user_id)
    assert dict(inbox.values_list("aggregate_version", "outcome")) == {2: "applied", 1: "stale"}


def _valid() -> dict:
    return user_state_event(new_user_id(), 1, types.USER_CREATED, start_date="2021-03-04")


def _without(path: str) -> dict:
    envelope = _valid()
    *parents, name = path.split("/")
    target = envelope
    for parent in parents:
        target = target[parent]
    del target[name]
    return envelope


def _with(path: str, value: object) -> dict:
    envelope = _valid()
    *parents, name = path.split("/")
    target = envelope
    for parent in parents:
        target = target[parent]
    target[name] = value
    return envelope


@pytest.mark.parametrize(
    ("envelope", "path"),
    [
        (["not", "an", "object"], ""),  # the message itself
        # Another contract type: its own schema refuses a user's payload.
        (_with("event_type", "catalogue.changed"), "payload"),
        (_with("event_type", ["user.created"]), "event_type"),
        (_with("schema_version", 99), "schema_version"),
        (_with("event_id", "not-a-uuid secret@example.com"), "event_id"),
        (_with("aggregate_id", 12), "aggregate_id"),
        (_with("aggregate_version", "3"), "aggregate_version"),
        (_with("aggregate_version", True), "aggregate_version"),
        (_with("aggregate_version", 0), "aggregate_version"),
        (_with("occurred_at", "yesterday secret@example.com"), "occurred_at"),
        (_with("occurred_at", "2026-11-23T10:00:00"), "occurred_at"),
        (_with("payload", "secret@example.com"), "payload"),
        (_without("payload/email"), "payload"),  # the object that lacks a required field
        (_with("payload/email", 7), "payload/email"),
        (_with("payload/is_active", "yes"), "payload/is_active"),
        (_with("payload/start_date", "2021-13-45 secret@example.com"), "payload/start_date"),
        (_with("payload/department", {"code": "ENG"}), "payload/department"),
    ],
)
def test_a_malformed_task_is_refused_naming_the_field_and_no_value(envelope, path):
    # The bridge validated every envelope it published; a task from elsewhere (a hand-edited
    # re-enqueue, another producer on the broker) fails clearly before anything is written.
    with pytest.raises(InvalidEvent) as refused:
        apply(envelope)
    assert refused.value.path == path
    assert "secret" not in str(refused.value)
    assert not InboxEntry.objects.exists()
    assert not UserRecord.objects.exists()
