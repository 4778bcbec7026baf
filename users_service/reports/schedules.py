"""Create the periodic tasks of the users service in django-celery-beat, idempotently.

`update_or_create` by name: the task wiring (task, arguments, queue) is ours and
kept current; the schedule and `enabled` are set only when a task is created, so
edits made in admin survive a restart (unless `reset_schedules`). Periodic tasks
of others are never touched.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from django.conf import settings
from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from users_service.reports.definitions import REPORTS, Crontab
from users_service.reports.tasks import QUEUE

BACKEND_CLEANUP = "celery.backend_cleanup"
#: Celery beat installs `celery.backend_cleanup` itself at 04:00 with this name; we use the same.
BACKEND_CLEANUP_SCHEDULE = Crontab(minute="0", hour="4")
REPORT_RUNS_CLEANUP_SCHEDULE = Crontab(minute="45", hour="4")


def report_task_name(report: str) -> str:
    return f"report: {report}"


def _crontab(schedule: Crontab) -> CrontabSchedule:
    crontab, _ = CrontabSchedule.objects.get_or_create(**asdict(schedule), timezone=settings.TIME_ZONE)
    return crontab


def _ensure(
    *, name: str, task: str, schedule: Crontab, kwargs: dict, queue: str | None, description: str, reset: bool
) -> bool:
    wiring = {"task": task, "kwargs": json.dumps(kwargs), "queue": queue, "description": description}
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
            task="reports.run_report",
            schedule=report.schedule,
            kwargs={"name": report.name},
            queue=QUEUE,
            description=f"{report.title} ({report.granularity}ly); see README, Reports",
            reset=reset_schedules,
        )
    outcome["reports: cleanup old runs"] = _ensure(
        name="reports: cleanup old runs",
        task="reports.cleanup_report_runs",
        schedule=REPORT_RUNS_CLEANUP_SCHEDULE,
        kwargs={},
        queue=QUEUE,
        description="Deletes ReportRuns older than REPORTS_RETENTION_DAYS",
        reset=reset_schedules,
    )
    # Celery's own cleanup of expired django-celery-results rows (CELERY_RESULT_EXPIRES).
    outcome[BACKEND_CLEANUP] = _ensure(
        name=BACKEND_CLEANUP,
        task=BACKEND_CLEANUP,
        schedule=BACKEND_CLEANUP_SCHEDULE,
        kwargs={},
        queue=None,
        description="Deletes expired task results (CELERY_RESULT_EXPIRES)",
        reset=reset_schedules,
    )
    return outcome
