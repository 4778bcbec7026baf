"""Periodic tasks the users service needs from its first start, created idempotently.

`result_cleanup_schedule_ensure` is called by migration `directory.0003` and may be called
again by any setup command (`update_or_create`, never a delete).
"""

from __future__ import annotations

from typing import Any

#: Celery's built-in task that deletes expired rows of django-celery-results (CELERY_RESULT_EXPIRES).
RESULT_CLEANUP_TASK = "celery.backend_cleanup"
#: The name celery beat's DatabaseScheduler uses for its own default entry: one row, not two.
RESULT_CLEANUP_NAME = "celery.backend_cleanup"


def result_cleanup_schedule_ensure(*, periodic_task_model: Any = None, crontab_model: Any = None) -> Any:
    """Daily at 04:00 (the time beat itself would choose, so the two never disagree), queue `reports`.

    Pass the historical models from a migration; by default the real ones are used.
    """
    if periodic_task_model is None or crontab_model is None:
        from django_celery_beat.models import CrontabSchedule, PeriodicTask

        periodic_task_model, crontab_model = PeriodicTask, CrontabSchedule
    crontab, _ = crontab_model.objects.get_or_create(
        minute="0", hour="4", day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
    )
    task, _ = periodic_task_model.objects.update_or_create(
        name=RESULT_CLEANUP_NAME,
        defaults={
            "task": RESULT_CLEANUP_TASK,
            "crontab": crontab,
            "interval": None,
            "queue": "reports",
            "expire_seconds": 12 * 3600,
            "enabled": True,
            "description": "Delete task results older than CELERY_RESULT_EXPIRES (django-celery-results).",
        },
    )
    return task
