"""Celery tasks of the directory: each a thin shell around a service function."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from users_service.directory import services
from users_service.ops import metrics
from users_service.task_policy import TRANSIENT_ERRORS, ServiceTask


# The hot path: one task per event. Its STARTED and SUCCESS rows in the result backend cost
# more than applying the event (README "Throughput"); the inbox row already records each
# outcome, and a failure is still stored (FAILURE row, and the FailedTask record).
@shared_task(
    name="directory.apply_user_event",
    bind=True,
    base=ServiceTask,
    ignore_result=True,
    track_started=False,
    store_errors_even_if_ignored=True,
)
def apply_user_event(self: ServiceTask, envelope: dict[str, Any]) -> str:
    """Apply one user event to the read model. Transient errors retry; anything else fails the task."""
    try:
        outcome = services.apply_user_event(envelope=envelope, task_name=self.name)
    except TRANSIENT_ERRORS as exc:
        self.retry_transient(exc)
    metrics.incr("events_applied_total", labels={"outcome": outcome.value})
    return outcome.value
