"""The bridge's hand-off records on PostgreSQL: written by one statement whose text does not depend
on the batch (psycopg parses a statement of more than 50 parameters again at every call), every
field read back as written, a record already there kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from events.bridge.handoff import HandOff as HandedOver
from tests.users_service.events import new_user_id, user_state_event
from users_service.bridge.handoff import DatabaseHandOffLog
from users_service.bridge.models import HandOff
from users_service.routing import APPLY_USER_EVENT

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


@pytest.fixture(autouse=True)
def _on_postgresql() -> None:
    # Fail, not skip: the statement under test is PostgreSQL's.
    assert connection.vendor == "postgresql", (
        "needs USERS_DATABASE_URL on PostgreSQL (devstack/test.py sets it)"
    )


def handed(envelope: dict, *, task: str = APPLY_USER_EVENT.task, at: datetime | None = None) -> HandedOver:
    at = at or datetime(2026, 12, 1, 15, 0, 0, 123456, tzinfo=UTC)
    return HandedOver(
        event_id=envelope["event_id"],
        event_type=envelope["event_type"],
        aggregate_id=envelope["aggregate_id"],
        trace_id=envelope["trace_id"],
        task_ids=(f"{envelope['event_id']}:{task}",),
        task_names=(task,),
        received_at=at - timedelta(milliseconds=3),
        handed_at=at,
        envelope=envelope,
    )


def test_one_statement_of_the_same_text_whatever_the_batch():
    log = DatabaseHandOffLog()
    with CaptureQueriesContext(connection) as queries:
        log.record([handed(user_state_event(new_user_id(), 1, "user.created")) for _ in range(2)])
        log.record([handed(user_state_event(new_user_id(), 1, "user.created")) for _ in range(10)])
    assert len(queries) == 2
    assert queries[0]["sql"].split(" SELECT ")[0] == queries[1]["sql"].split(" SELECT ")[0]
    assert HandOff.objects.count() == 12


def test_every_field_is_read_back_as_written_and_a_record_already_there_is_kept():
    waiting = user_state_event(new_user_id(), 2, "user.updated", first_name='Zoë "quoted" \\ back')
    unrouted = user_state_event(new_user_id(), 1, "user.created")
    first = handed(waiting)
    DatabaseHandOffLog().record([first, handed(unrouted, task="bench.no_inbox")])
    again = handed(waiting, at=first.handed_at + timedelta(seconds=5))
    DatabaseHandOffLog().record([again])

    record = HandOff.objects.get(event_id=waiting["event_id"])
    assert record.envelope == waiting
    assert (record.event_type, record.aggregate_id, record.trace_id) == (
        "user.updated",
        waiting["aggregate_id"],
        waiting["trace_id"],
    )
    assert record.task_ids == list(first.task_ids)
    assert (record.received_at, record.handed_at) == (
        first.received_at,
        first.handed_at,
    )  # kept, not replaced
    assert record.applied_at is None
    assert record.attempts == 0
    assert record.next_attempt_at > record.handed_at
    nothing_to_wait_for = HandOff.objects.get(event_id=unrouted["event_id"])
    assert nothing_to_wait_for.applied_at == nothing_to_wait_for.handed_at
    assert nothing_to_wait_for.envelope is None
    assert nothing_to_wait_for.next_attempt_at is None
