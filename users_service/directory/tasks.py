"""Celery tasks of the directory: each a thin shell around a service function."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from events.aws import AWS_CALL_ERRORS
from events.bridge.dlq import DeadLetterQueue
from users_service.directory import erasure, services
from users_service.ops import metrics

#: What may clear by itself while an event is applied: the database restarting, a lost
#: connection, SQLite's "database is locked". Anything else fails the task at once.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)


# The hot path: one task per event. Its STARTED and SUCCESS rows in the result backend cost
# more than applying the event (README "Throughput"); the inbox row already records each
# outcome, and a failure is still stored (FAILURE row, and the FailedTask record).
@shared_task(
    name="directory.apply_user_event",
    bind=True,
    autoretry_for=TRANSIENT_ERRORS,
    ignore_result=True,
    track_started=False,
    store_errors_even_if_ignored=True,
)
def apply_user_event(self: Any, envelope: dict[str, Any]) -> str:
    """Apply one user event to the read model."""
    outcome = services.apply_user_event(envelope=envelope, task_name=self.name)
    event_type = str(envelope.get("event_type"))  # a user event type: the service refuses others
    metrics.EVENTS_APPLIED.labels(event_type=event_type, outcome=outcome.value).inc()
    if outcome is services.ApplyOutcome.APPLIED:
        metrics.observe_end_to_end(event_type, envelope.get("occurred_at"))
    # No line of its own: Celery's "succeeded" line is the task's one line (docs/tracing.md), with
    # this outcome as its result and the event, trace, user and task ids bound at task_prerun.
    return outcome.value


@shared_task(
    name="directory.forget_user",
    autoretry_for=(erasure.NotErasedYet, *TRANSIENT_ERRORS, *AWS_CALL_ERRORS),
)
def forget_user(envelope: dict[str, Any]) -> str:
    """After `user.erased`: redact the user's failed tasks and task results, drop their cache
    entries and dead letters (docs/privacy.md)."""
    forgotten = erasure.user_forget(user_id=envelope["aggregate_id"], dead_letters=DeadLetterQueue.from_env())
    return (
        f"failed tasks {forgotten.failed_tasks}, task results {forgotten.task_results}, "
        f"cache keys {forgotten.cache_keys}, dead letters {forgotten.dead_letters}"
    )


@shared_task(name="directory.prune_failed_tasks")
def prune_failed_tasks() -> int:
    """Scheduled daily (users_service/reports/schedules.py): FAILED_TASKS_RETENTION_DAYS."""
    return services.failed_task_prune(older_than=timedelta(days=settings.FAILED_TASKS_RETENTION_DAYS))
