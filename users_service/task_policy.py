"""How every Celery task of the users service fails, retries and waits.

`ServiceTask` is the app's task class (`task_cls`), so every task gets it. A task
family declares the errors that may clear by themselves once, with Celery's own
task option `autoretry_for`; Celery retries them through `ServiceTask.retry`, which
waits the project's backoff (`events.backoff.Backoff`, capped per queue role), at
most `CELERY_TASK_MAX_RETRIES` times. Anything else fails at once. A countdown/ETA
too long for the queue's visibility timeout is refused, and a task that finally
fails is recorded in the `FailedTask` table so that admin can re-enqueue it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

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

    #: Errors worth a retry, declared by each task family (`@shared_task(autoretry_for=...)`).
    autoretry_for: tuple[type[BaseException], ...] = ()

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        # Celery's retry() reads it: every retry of every task shares the one limit.
        return int(settings.CELERY_TASK_MAX_RETRIES)

    def queue_role(self, queue: str | None = None) -> queues.WorkerRole:
        """The role consuming `queue`, by default the queue this task is routed to."""
        return (queue and queues.role_of_queue(queue)) or queues.role_of_task(self.name)

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        limit = self.queue_role(options.get("queue")).max_countdown
        ensure_within_visibility(countdown=options.get("countdown"), eta=options.get("eta"), limit=limit)
        return super().apply_async(args, kwargs, **options)

    def retry(
        self,
        args: Any = None,
        kwargs: Any = None,
        exc: BaseException | None = None,
        throw: bool = True,
        eta: datetime.datetime | None = None,
        countdown: float | None = None,
        max_retries: int | None = None,
        **options: Any,
    ) -> Any:
        """Celery's retry, but a retry given no delay (autoretry) waits the project's backoff.

        Once the retries are spent, Celery raises `exc` itself: the task fails with it.
        """
        retries = self.request.retries
        limit = self.max_retries if max_retries is None else max_retries
        if eta is None and countdown is None:
            backoff = Backoff(
                base=settings.CELERY_RETRY_BACKOFF_BASE, cap=self.queue_role().retry_backoff_cap
            )
            countdown = backoff.delay(retries + 1)
        if retries < limit and not self.request.called_directly:
            metrics.TASKS_RETRIED.labels(task=self.name).inc()
            # The error's type only: a driver's message may quote the row it choked on.
            log.warning(
                "%s[%s] retry %d in %.1fs after %s",
                self.name,
                self.request.id,
                retries + 1,
                countdown,
                type(exc).__name__ if exc is not None else "a retry request",
            )
        return super().retry(args, kwargs, exc, throw, eta, countdown, max_retries, **options)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Late acks and acks_on_failure: the broker forgets a failed task, so this row is its only trace.
        metrics.TASKS_FAILED.labels(task=self.name).inc()
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
                transient=isinstance(exc, self.autoretry_for),
            )
        except DatabaseError:
            # The database is what failed: the result backend row and this log line remain.
            log.exception("%s[%s] failed and could not be recorded as a failed task", self.name, task_id)
