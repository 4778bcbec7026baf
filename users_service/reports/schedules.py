"""The one owner of the users service's periodic tasks: creates them in django-celery-beat, idempotently.

`update_or_create` by name: the task wiring (task, arguments, queue) is ours and
kept current; the schedule and `enabled` are set only when a task is created, so
edits made in admin survive a restart (unless `reset_schedules`). Periodic tasks
of others are never touched. Each task's queue is the one its queue role routes it
to (`users_service/queues.py`); crontabs are in `TIME_ZONE`, celery beat's time zone.
Celery's own `celery.backend_cleanup` is scheduled here too: the beat scheduler does
not install its default entry (`users_service/reports/scheduler.py`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from users_service.directory.tasks import prune_failed_tasks
from users_service.queues import role_of_task
from users_service.reports.definitions import REPORTS, Crontab
from users_service.reports.tasks import cleanup_report_runs, run_report

#: Celery's built-in task deleting expired rows of django-celery-results (CELERY_RESULT_EXPIRES), under
#: the name and at the time celery beat would give it.
BACKEND_CLEANUP = "celery.backend_cleanup"
BACKEND_CLEANUP_SCHEDULE = Crontab(minute="0", hour="4")
REPORT_RUNS_CLEANUP_SCHEDULE = Crontab(minute="45", hour="4")
FAILED_TASKS_PRUNE_SCHEDULE = Crontab(minute="30", hour="4")


class Cleanup(NamedTuple):
    """A periodic clean-up beside the reports (no arguments)."""

    name: str
    task: str
    schedule: Crontab
    description: str


CLEANUPS = (
    Cleanup(
        "reports: cleanup old runs",
        cleanup_report_runs.name,
        REPORT_RUNS_CLEANUP_SCHEDULE,
        "Deletes ReportRuns older than REPORTS_RETENTION_DAYS",
    ),
    Cleanup(
        "directory: prune failed tasks",
        prune_failed_tasks.name,
        FAILED_TASKS_PRUNE_SCHEDULE,
        "Deletes re-enqueued failed tasks older than FAILED_TASKS_RETENTION_DAYS",
    ),
    # Celery's own cleanup of expired django-celery-results rows (CELERY_RESULT_EXPIRES).
    Cleanup(
        BACKEND_CLEANUP,
        BACKEND_CLEANUP,
        BACKEND_CLEANUP_SCHEDULE,
        "Deletes expired task results (CELERY_RESULT_EXPIRES)",
    ),
)


def report_task_name(report: str) -> str:
    return f"report: {report}"


def _crontab(schedule: Crontab) -> CrontabSchedule:
    crontab, _ = CrontabSchedule.objects.get_or_create(**asdict(schedule), timezone=settings.TIME_ZONE)
    return crontab


def _ensure(*, name: str, task: str, schedule: Crontab, kwargs: dict, description: str, reset: bool) -> bool:
    wiring = {
        "task": task,
        "kwargs": json.dumps(kwargs),
        "queue": role_of_task(task).queue,
        "description": description,
    }
    timing = {"crontab": _crontab(schedule), "interval": None, "solar": None, "clocked": None}
    _, created = PeriodicTask.objects.update_or_create(
        name=name,
        defaults={**wiring, **timing} if reset else wiring,
        create_defaults={**wiring, **timing, "enabled": True},
    )
    return created


@transaction.atomic
def setup_periodic_tasks(*, reset_schedules: bool = False) -> dict[str, bool]:
    """Ensure every report, the report-run retention cleanup and the results cleanup are scheduled.

    Returns {periodic task name: created?}.
    """
    outcome: dict[str, bool] = {}
    for report in REPORTS.values():
        name = report_task_name(report.name)
        outcome[name] = _ensure(
            name=name,
            task=run_report.name,
            schedule=report.schedule,
            kwargs={"name": report.name},
            description=f"{report.title} ({report.granularity}ly); see README, Reports",
            reset=reset_schedules,
        )
    for cleanup in CLEANUPS:
        outcome[cleanup.name] = _ensure(**cleanup._asdict(), kwargs={}, reset=reset_schedules)
    return outcome
