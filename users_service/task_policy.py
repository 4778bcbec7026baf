"""How every Celery task of the users service fails, retries and waits.

`ServiceTask` is the app's task class (`task_cls`): it refuses a countdown/ETA
longer than the broker's visibility timeout, retries only `TRANSIENT_ERRORS`
with bounded exponential backoff and jitter, and records a task that finally
fails in the `FailedTask` table so that admin can re-enqueue it.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any, NoReturn

import redis.exceptions
import requests
from celery import Task
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from events.backoff import Backoff
from events.errors import TransientError

log = logging.getLogger(__name__)


#: Celery's own autoretry backoff for the small cache tasks (exponential, jittered, 30 s cap):
#: they retry only the one error they name, with `autoretry_for`.
AUTORETRY_BACKOFF: dict[str, Any] = {"retry_backoff": True, "retry_backoff_max": 30, "retry_jitter": True}


class UpstreamUnavailable(TransientError):
    """The upstream answered, but with a status that may clear by itself (429, 5xx)."""


#: Errors that may go away by themselves: worth a retry. Anything else fails the task at once.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,  # database restarting, connection lost, SQLite "database is locked"
    InterfaceError,  # connection closed under us
    requests.ConnectionError,
    requests.Timeout,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    TransientError,  # includes UpstreamUnavailable
)


def check_upstream_response(response: requests.Response) -> requests.Response:
    """Raise `UpstreamUnavailable` for 429/5xx (retry), `HTTPError` for other 4xx (a bug: no retry)."""
    if response.status_code == 429 or response.status_code >= 500:
        raise UpstreamUnavailable(f"{response.request.method} {response.url}: {response.status_code}")
    response.raise_for_status()
    return response


class CountdownTooLong(ValueError):
    """A countdown/ETA beyond the visibility timeout would get the waiting task redelivered."""


def visibility_timeout() -> int:
    return int(settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"])


def ensure_within_visibility(
    *,
    countdown: float | None = None,
    eta: datetime.datetime | None = None,
    limit: float | None = None,
    now: datetime.datetime | None = None,
) -> None:
    """Refuse a delay the Redis transport cannot keep: it would redeliver the task while it waits."""
    limit = visibility_timeout() if limit is None else limit
    delays = []
    if countdown is not None:
        delays.append(float(countdown))
    if eta is not None:
        now = now or datetime.datetime.now(datetime.UTC)
        if eta.tzinfo is None:
            eta = eta.replace(tzinfo=datetime.UTC)
        delays.append((eta - now).total_seconds())
    for delay in delays:
        if delay >= limit:
            raise CountdownTooLong(
                f"a delay of {delay:.0f}s is not shorter than the broker visibility timeout ({limit:.0f}s)"
            )


class ServiceTask(Task):
    """The task class of the users service (see module docstring)."""

    def apply_async(self, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        ensure_within_visibility(countdown=options.get("countdown"), eta=options.get("eta"))
        return super().apply_async(args, kwargs, **options)

    @property
    def transient_max_retries(self) -> int:
        return int(settings.CELERY_TASK_MAX_RETRIES)

    def retry_transient(self, exc: BaseException) -> NoReturn:
        """Retry after a backoff, or, once the retries are spent, fail with `exc` (recorded by on_failure).

        Call it only from an `except TRANSIENT_ERRORS` clause: other errors fail at once.
        """
        retries = self.request.retries
        if retries >= self.transient_max_retries:
            raise exc
        countdown = Backoff(
            base=settings.CELERY_RETRY_BACKOFF_BASE, cap=settings.CELERY_RETRY_BACKOFF_MAX
        ).delay(retries + 1)
        _count("tasks_retried_total", self.name)
        log.warning("%s[%s] retry %d in %.1fs: %r", self.name, self.request.id, retries + 1, countdown, exc)
        raise self.retry(exc=exc, countdown=countdown, max_retries=self.transient_max_retries)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Late acks and acks_on_failure: the broker forgets a failed task, so this row is its only trace.
        from users_service.directory.services import failed_task_record

        _count("tasks_failed_total", self.name)
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
                transient=isinstance(exc, TRANSIENT_ERRORS),
            )
        except DatabaseError:
            # The database is what failed: the result backend row and this log line remain.
            log.exception("%s[%s] failed and could not be recorded as a failed task", self.name, task_id)


def _count(metric: str, task_name: str) -> None:
    from users_service.ops import metrics

    metrics.incr(metric, labels={"task": task_name})
