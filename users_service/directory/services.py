"""Apply user events to the read model, exactly once in effect; record and re-enqueue failed tasks.

Checks, all in one statement or transaction: the inbox (a repeated event is a
no-op), the version (only a newer `aggregate_version` is applied), and the
tombstone (an erased user stays erased whatever arrives later).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from events import types
from events.errors import InvalidEvent
from events.validation import (
    REASON_NOT_AN_OBJECT,
    REASON_SCHEMA,
    REASON_UNKNOWN_SCHEMA_VERSION,
    REASON_UNKNOWN_TYPE,
    known_versions,
)
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

    The bridge validated the envelope against the contract before it published the task (the
    users service's door, `events.bridge`); here `user_event` checks only what the apply relies
    on, so that a task that did not come through the bridge fails as clearly (`InvalidEvent`).
    On PostgreSQL one statement writes the record, if newer, and the inbox row
    (`apply_statements.upsert_once`); elsewhere two in one transaction: the inbox row, inserted
    unless it exists, and the record, inserted or updated only where it is older and not erased
    (a stale event costs one more statement, its inbox outcome).
    """
    event = user_event(envelope)
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
        last_event_at=event.occurred_at,
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


@dataclass(frozen=True, slots=True)
class UserEvent:
    """What applying a user event reads of its envelope."""

    event_id: str
    event_type: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    payload: Mapping[str, Any]


#: Payload field -> the JSON types the read model's column takes (a snapshot carries them all).
_PAYLOAD_TYPES: dict[str, tuple[type, ...]] = {
    "email": (str,),
    "first_name": (str,),
    "last_name": (str,),
    "department": (str, type(None)),
    "position": (str, type(None)),
    "location": (str, type(None)),
    "start_date": (str, type(None)),
    "end_date": (str, type(None)),
    "is_active": (bool,),
}


def _refuse(path: str, rule: str, reason: str = REASON_SCHEMA) -> InvalidEvent:
    # The path and the rule only: no value of the envelope reaches the task's failure record.
    return InvalidEvent(reason, f"{path} ({rule})", path=path, validator=rule)


def user_event(envelope: Any) -> UserEvent:
    """The fields the apply uses, each checked for its type and form (not the whole contract: the
    bridge validated that); `InvalidEvent`, naming the field and never its value, if one is wrong."""
    if not isinstance(envelope, Mapping):
        raise _refuse("(envelope)", "type", REASON_NOT_AN_OBJECT)
    event_type = envelope.get("event_type")
    if not isinstance(event_type, str) or event_type not in USER_STATE_TYPES:
        raise _refuse("event_type", "enum", REASON_UNKNOWN_TYPE)
    if envelope.get("schema_version") not in known_versions(event_type):
        raise _refuse("schema_version", "enum", REASON_UNKNOWN_SCHEMA_VERSION)
    version = envelope.get("aggregate_version")
    if type(version) is not int or version < 1:
        raise _refuse("aggregate_version", "minimum")
    payload = envelope.get("payload")
    if not isinstance(payload, Mapping):
        raise _refuse("payload", "type")
    if event_type != types.USER_ERASED:
        for name, accepted in _PAYLOAD_TYPES.items():
            if not isinstance(payload.get(name, ...), accepted):
                raise _refuse(f"payload/{name}", "type")
        for name in ("start_date", "end_date"):
            if payload[name] is not None:
                _checked(f"payload/{name}", date.fromisoformat, payload[name])
    occurred_at = envelope.get("occurred_at")
    return UserEvent(
        event_id=_uuid("event_id", envelope.get("event_id")),
        event_type=event_type,
        aggregate_id=_uuid("aggregate_id", envelope.get("aggregate_id")),
        aggregate_version=version,
        occurred_at=_checked("occurred_at", _timestamp, occurred_at),
        payload=payload,
    )


def _uuid(path: str, value: Any) -> str:
    _checked(path, uuid.UUID, value)
    return value


def _timestamp(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment


def _checked(path: str, parse: Callable[[str], Any], value: Any) -> Any:
    if not isinstance(value, str):
        raise _refuse(path, "type")
    try:
        return parse(value)
    except ValueError:
        raise _refuse(path, "format") from None


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
