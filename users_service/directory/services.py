"""Apply user events to the read model, exactly once in effect; record and re-enqueue failed tasks.

Order of checks, all in one transaction: the inbox (a repeated event is a
no-op), then the version (only a newer `aggregate_version` is applied), then
the tombstone (an erased user stays erased whatever arrives later).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from events import types
from events.envelope import Envelope
from events.errors import InvalidMessage
from users_service.directory import apply_statements, erasure
from users_service.directory.models import FailedTask, InboxEntry, UserRecord

SNAPSHOT_FIELDS = types.USER_STATE_FIELDS


class ApplyOutcome(enum.StrEnum):
    APPLIED = "applied"
    STALE = "stale"
    DUPLICATE = "duplicate"


def _occurred_at(envelope: Envelope) -> datetime:
    return datetime.fromisoformat(envelope.occurred_at.replace("Z", "+00:00"))


def apply_user_event(*, envelope: dict[str, Any], task_name: str) -> ApplyOutcome:
    """Apply a `user.*` snapshot or erase event; validates it against the contract first.

    Two statements in one transaction (see `apply_statements`): the inbox row, inserted unless
    it exists, and the record, inserted or updated only where it is older and not erased. A
    stale event costs one more statement (its inbox outcome).
    """
    try:
        event = Envelope.from_dict(envelope)
    except InvalidMessage as exc:
        # jsonschema's message quotes the bad value; the worker logs and stores this error.
        raise exc.value_free() from None
    if event.event_type not in types.USER_SNAPSHOT_TYPES | {types.USER_ERASED}:
        raise ValueError(f"{event.event_type} is not a user state event")
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
        last_event_at=_occurred_at(event),
        updated_at=now,
    )
    inbox = {
        "event_id": event.event_id,
        "task_name": task_name,
        "event_type": event.event_type,
        "aggregate_id": event.aggregate_id,
        "aggregate_version": event.aggregate_version,
        "outcome": InboxEntry.Outcome.APPLIED,
        "processed_at": now,
    }
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
