"""Apply user events to the read model, exactly once in effect; record and re-enqueue failed tasks.

Checks, all in one statement or transaction: the inbox (a repeated event is a
no-op), the version (only a newer `aggregate_version` is applied), and the
tombstone (an erased user stays erased whatever arrives later).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from events import types
from events.envelope import Envelope
from events.errors import InvalidEvent, InvalidMessage
from events.validation import REASON_UNKNOWN_TYPE
from users_service.directory import apply_statements, erasure
from users_service.directory.models import FailedTask, InboxEntry, UserRecord

SNAPSHOT_FIELDS = types.USER_STATE_FIELDS
USER_STATE_TYPES = types.USER_SNAPSHOT_TYPES | {types.USER_ERASED}


class ApplyOutcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"


def apply_user_event(*, envelope: dict[str, Any], task_name: str) -> ApplyOutcome:
    """Apply a `user.*` snapshot or erase event.

    The envelope is validated against the contract first, although the bridge validated it before
    it published the task: a task that did not come through the bridge (a hand-edited re-enqueue,
    another producer on the broker) fails as clearly, as `InvalidEvent` naming the field and never
    its value. It is the contract's one definition of an event, and it costs about 17 us an event
    (bench/_profile_apply.py), as much as checking only the fields the apply reads.
    On PostgreSQL one statement writes the record, if newer, and the inbox row
    (`apply_statements.upsert_once`); elsewhere two in one transaction: the inbox row, inserted
    unless it exists, and the record, inserted or updated only where it is older and not erased
    (a stale event costs one more statement, its inbox outcome).
    """
    try:
        event = Envelope.from_dict(envelope)
    except InvalidMessage as exc:
        # jsonschema's message quotes the bad value; the worker logs and stores this error.
        raise exc.value_free() from None
    if event.event_type not in USER_STATE_TYPES:
        raise InvalidEvent(REASON_UNKNOWN_TYPE, f"{event.event_type} is not a user state event")
    now = timezone.now()
    if event.event_type == types.USER_ERASED:
        state = dict(TOMBSTONE)
    else:
        state = {name: event.payload[name] for name in SNAPSHOT_FIELDS}
        state["erased"] = False
    state.update(
        id=event.aggregate_id,
        version=event.aggregate_version,
        last_event_id=event.event_id,
        last_event_at=datetime.fromisoformat(event.occurred_at.replace("Z", "+00:00")),
        updated_at=now,
    )
    inbox = {
        "event_id": event.event_id,
        "task_name": task_name,
        "event_type": event.event_type,
        "aggregate_id": event.aggregate_id,
        "aggregate_version": event.aggregate_version,
        "processed_at": now,
    }
    if connection.vendor == "postgresql":
        outcome = apply_statements.upsert_once(
            UserRecord,
            state,
            inbox=InboxEntry,
            inbox_values=inbox,
            inbox_conflict_fields=("event_id", "task_name"),
            outcome_field="outcome",
            applied=InboxEntry.Outcome.APPLIED,
            stale=InboxEntry.Outcome.STALE,
        )
        return ApplyOutcome.DUPLICATE if outcome is None else ApplyOutcome(outcome)
    inbox["outcome"] = InboxEntry.Outcome.APPLIED
    with transaction.atomic():
        if not apply_statements.insert_unless_exists(
            InboxEntry, inbox, conflict_fields=("event_id", "task_name")
        ):
            return ApplyOutcome.DUPLICATE
        if apply_statements.upsert_if_newer(UserRecord, state):
            return ApplyOutcome.APPLIED
        InboxEntry.objects.filter(event_id=event.event_id, task_name=task_name).update(
            outcome=InboxEntry.Outcome.STALE
        )
        return ApplyOutcome.STALE


#: What an erase leaves of a user: no personal data, only the id and the version (set by the caller).
TOMBSTONE: dict[str, Any] = {
    "erased": True,
    "email": "",
    "first_name": "",
    "last_name": "",
    "department": None,
    "position": None,
    "location": None,
    "start_date": None,
    "end_date": None,
    "is_active": False,
}


def failed_task_record(
    *,
    task_id: str,
    task_name: str,
    args: list[Any],
    kwargs: dict[str, Any],
    queue: str,
    error: str,
    traceback: str,
    attempts: int,
    transient: bool,
) -> FailedTask:
    """Keep a task that failed for good; a task that fails again after a re-enqueue updates its row.

    A task about a user already erased (a retry that was in flight) is kept redacted: the erase's
    own clean-up (`erasure.user_forget`) may have run before it failed.
    """
    if erasure.erased_user_of(args, kwargs):
        args, kwargs = erasure.redacted_arguments(args, kwargs)
        error, traceback = f"{erasure.error_type(error)}: {erasure.REDACTED}", ""
    failed, _ = FailedTask.objects.update_or_create(
        task_id=task_id,
        defaults={
            "task_name": task_name,
            "args": args,
            "kwargs": kwargs,
            "queue": queue,
            "error": error[:10_000],
            "traceback": traceback[:50_000],
            "attempts": attempts,
            "transient": transient,
            "status": FailedTask.Status.FAILED,
            "failed_at": timezone.now(),
        },
    )
    return failed


def failed_task_requeue(*, failed_tasks: Iterable[FailedTask]) -> int:
    """Send failed tasks to the broker again under their own task id; returns how many were sent.

    Each row is marked only after the broker took its task. A broker error propagates
    (the rows not yet sent stay `failed`); a task sent twice is harmless: handlers are idempotent.
    """
    from users_service.celery import app

    sent = 0
    for failed in failed_tasks:
        if failed.status != FailedTask.Status.FAILED:
            continue
        options = {"queue": failed.queue} if failed.queue else {}
        app.send_task(
            failed.task_name, args=failed.args, kwargs=failed.kwargs, task_id=failed.task_id, **options
        )
        failed.status = FailedTask.Status.REQUEUED
        failed.requeued_at = timezone.now()
        failed.requeue_count += 1
        failed.save(update_fields=["status", "requeued_at", "requeue_count"])
        sent += 1
    return sent


def failed_task_prune(*, older_than: timedelta) -> int:
    """Delete re-enqueued failed tasks whose re-enqueue is older than `older_than`; returns how many.

    A re-enqueued task that failed again is `failed` once more and stays; rows still `failed`
    wait for an operator. Their arguments are events, personal data included: none is kept forever.
    """
    cutoff = timezone.now() - older_than
    deleted, _ = FailedTask.objects.filter(status=FailedTask.Status.REQUEUED, requeued_at__lt=cutoff).delete()
    return deleted
