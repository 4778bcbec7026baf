"""The users service's Celery app (Redis broker). Settings live in `settings.py` under CELERY_*;
every task gets `ServiceTask` (bounded countdowns, transient retries, failed-task records)."""

import os
import threading
import time
from typing import Any

from celery import Celery, bootsteps, signals

from events.liveness import Liveness
from events.task_repr import task_argsrepr, task_kwargsrepr

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "users_service.settings")

app = Celery("users_service", task_cls="users_service.task_policy:ServiceTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


class LivenessStep(bootsteps.StartStopStep):
    """Touches LIVENESS_FILE from the consumer's timer while the consumer runs: the container's
    health check reads the file's age instead of starting the Celery CLI for an `inspect ping`
    (a second of CPU every interval, and a broadcast every worker answers). The step is one of the
    consumer's, so it stops, and the file goes stale, while the broker connection is lost."""

    requires = {"celery.worker.consumer.tasks:Tasks"}
    #: Seconds between touches; the health check allows several missed ones (docker-compose.yml).
    interval = 5.0

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        self._timer_entry: Any = None

    def start(self, parent: Any) -> None:
        from django.conf import settings

        liveness = Liveness(settings.LIVENESS_FILE, min_interval=0)
        if liveness.path is None:
            return
        liveness.beat()
        self._timer_entry = parent.timer.call_repeatedly(self.interval, liveness.beat)

    def stop(self, parent: Any) -> None:
        if self._timer_entry is not None:
            self._timer_entry.cancel()
            self._timer_entry = None


app.steps["consumer"].add(LivenessStep)


#: A connection that served a task this recently is not health-checked (CONN_HEALTH_CHECKS) again
#: before the next one: Django checks once per request, and tasks that follow each other within it
#: count as one unit of work here. Without it every task paid a `SELECT 1` round trip before its
#: statement (the client's CPU and a database statement an event, bench/_profile_apply).
HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0
_task_thread = threading.local()


def _runs_in_worker(task: Any) -> bool:
    return task is not None and not getattr(task.request, "is_eager", False)


@signals.task_prerun.connect
def _recycle_database_connections(task: Any = None, **kwargs: Any) -> None:
    # What Django does around each request: drop a connection that is broken or older than
    # CONN_MAX_AGE, keep the others. Celery's own fixup would close every connection around
    # every task (CELERY_DB_REUSE_MAX disables that), costing a PostgreSQL connect per task.
    if not _runs_in_worker(task):
        return
    from django.db import close_old_connections, connections

    close_old_connections()
    ended = getattr(_task_thread, "ended_at", None)
    if ended is not None and time.monotonic() - ended < HEALTH_CHECK_AFTER_IDLE_SECONDS:
        for connection in connections.all(initialized_only=True):
            if connection.connection is not None:  # kept by close_old_connections: no error, not too old
                connection.health_check_done = True


@signals.task_postrun.connect
def _release_database_connections(task: Any = None, **kwargs: Any) -> None:
    # A connection a task broke or outlived is dropped now, not held until the next task.
    if not _runs_in_worker(task):
        return
    from django.db import close_old_connections

    close_old_connections()
    _task_thread.ended_at = time.monotonic()


@signals.setup_logging.connect
def _use_service_logging(**kwargs: Any) -> None:
    # Connected, this stops Celery from replacing the root logger's handlers with its own plain
    # text format: workers and beat log through the service's LOGGING (structured, ids bound).
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@signals.task_prerun.connect
def _bind_task_context(task_id: str | None = None, task: Any = None, args: Any = None, **kwargs: Any) -> None:
    """Every record a task logs carries its task id and, for an event task, the event's ids and trace."""
    from users_service.task_context import task_started

    task_started(task_id=task_id, task=task, args=args)


@signals.task_postrun.connect
def _unbind_task_context(**kwargs: Any) -> None:
    from users_service.task_context import task_finished

    task_finished()


@signals.before_task_publish.connect
def _value_free_argsrepr(body: Any = None, headers: dict[str, Any] | None = None, **kwargs: Any) -> None:
    # Celery writes saferepr(args) into every message it sends itself (a retry, an admin
    # re-enqueue, beat): the whole envelope, personal data included, which the result backend
    # (result_extended) and worker logs then copy. Every message leaves with value-free reprs.
    if headers is None or "argsrepr" not in headers or not isinstance(body, tuple | list) or len(body) < 2:
        return
    args, task_kwargs = body[0], body[1]
    headers["argsrepr"] = task_argsrepr(args if isinstance(args, list | tuple) else ())
    headers["kwargsrepr"] = task_kwargsrepr(task_kwargs if isinstance(task_kwargs, dict) else {})
