"""The users service's Celery app (Redis broker). Settings live in `settings.py` under CELERY_*;
every task gets `ServiceTask` (bounded countdowns, transient retries, failed-task records)."""

import os
from typing import Any

from celery import Celery, bootsteps, signals

from events.liveness import Liveness

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


@signals.task_prerun.connect
@signals.task_postrun.connect
def _recycle_database_connections(task: Any = None, **kwargs: Any) -> None:
    # What Django does around each request: drop a connection that is broken or older than
    # CONN_MAX_AGE, keep the others. Celery's own fixup would close every connection around
    # every task (CELERY_DB_REUSE_MAX disables that), costing a PostgreSQL connect per task.
    if task is not None and not getattr(task.request, "is_eager", False):
        from django.db import close_old_connections

        close_old_connections()
