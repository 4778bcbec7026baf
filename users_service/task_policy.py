"""How every Celery task of the users service fails, retries and waits.

`ServiceTask` is the app's task class (`task_cls`), so every task gets it. A task
family declares the errors that may clear by themselves once, as the task option
`transient_errors`; the task then retries them with the project's backoff
(`events.backoff.Backoff`, capped per queue role), at most `CELERY_TASK_MAX_RETRIES`
times, and fails on anything else at once. A countdown/ETA too long for the
queue's visibility timeout is refused, and a task that finally fails is recorded
in the `FailedTask` table so that admin can re-enqueue it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any, NoReturn

from celery import Task
from django.conf import settings
from django.db import DatabaseError

from events.backoff import Backoff
from users_service import queues
from users_service.directory.services import failed_task_record
from users_service.ops import metrics

log = logging.getLogger(__name__)


class CountdownTooLong(ValueError):
    """A countdown/ETA beyond the visibility timeout would get the waiting task redelivered."""


def ensure_within_visibility(
    *,
    countdown: float | None = None,
    eta: datetime.datetime | None = None,
    limit: float,
    now: datetime.datetime | None = None,
) -> None:
    """Refuse a delay the Redis transport cannot keep: it would redeliver the task while it waits."""
    delays = []
    if countdown is not None:
        delays.append(float(countdown))
    if eta is not None:
        now = now or datetime.datetime.now(datetime.UTC)
        if eta.tzinfo is None:
            eta = eta.replace(tzinfo=datetime.UTC)
        delays.append((eta - now).total_seconds())
    for delay in delays:
        if delay > limit:
            raise CountdownTooLong(
                f"a delay of {delay:.0f}s leaves the task too little of its queue's visibility timeout "
                f"(at most {limit:.0f}s: see users_service/queues.py)"
            )


class ServiceTask(Task):
    """The task class of the users service (see module docstring)."""

    #: Errors worth a retry, declared by each task family (`@shared_task(transient_errors=...)`).
    transient_errors: tuple[type[BaseException], ...] = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except self.transient_errors as exc:
            self.retry_transient(exc)

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        # Celery's own retry() reads it: every retry of every task shares the one limit.
        return int(settings.CELERY_TASK_MAX_RETRIES)

    def queue_role(self, queue: str | None = None) -> queues.WorkerRole:
        """The role consuming `queue`, by default the queue this task is routed to."""
        return (queue and queues.role_of_queue(queue)) or queues.role_of_task(self.name)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        limit = self.queue_role(options.get("queue")).max_countdown
        ensure_within_visibility(countdown=options.get("countdown"), eta=options.get("eta"), limit=limit)
        return super().apply_async(args, kwargs, **options)

    def retry_transient(self, exc: BaseException) -> NoReturn:
        """Retry after a backoff, or, once the retries are spent, fail with `exc` (recorded by on_failure)."""
        retries = self.request.retries
        if retries >= self.max_retries:
            raise exc
        backoff = Backoff(base=settings.CELERY_RETRY_BACKOFF_BASE, cap=self.queue_role().retry_backoff_cap)
        countdown = backoff.delay(retries + 1)
        metrics.incr("tasks_retried_total", labels={"task": self.name})
        log.warning("%s[%s] retry %d in %.1fs: %r", self.name, self.request.id, retries + 1, countdown, exc)
        raise self.retry(exc=exc, countdown=countdown)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Late acks and acks_on_failure: the broker forgets a failed task, so this row is its only trace.
        metrics.incr("tasks_failed_total", labels={"task": self.name})
        delivery_info = self.request.delivery_info or {}
        try:
            failed_task_record(
                task_id=task_id,
                task_name=self.name,
                args=list(args or ()),
                kwargs=dict(kwargs or {}),
                queue=delivery_info.get("routing_key") or "",
                error=f"{type(exc).__name__}: {exc}",
                traceback=str(einfo or ""),
                attempts=self.request.retries + 1,
                transient=isinstance(exc, self.transient_errors),
            )
        except DatabaseError:
            # The database is what failed: the result backend row and this log line remain.
            log.exception("%s[%s] failed and could not be recorded as a failed task", self.name, task_id)
