"""Celery tasks of the reports (queue `reports`, see CELERY_TASK_ROUTES): thin shells around `services`."""

from __future__ import annotations

from typing import Any

import requests
from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from users_service.reports import services
from users_service.reports.models import ReportRun
from users_service.reports.reconciliation import MonolithError
from users_service.routing import QUEUE_REPORTS

QUEUE = QUEUE_REPORTS


@shared_task(
    name="reports.run_report",
    bind=True,
    autoretry_for=(OperationalError, MonolithError, requests.RequestException),
    retry_backoff=True,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def run_report(self: Any, name: str, period: str | None = None) -> dict[str, Any]:
    run = services.report_run(name=name, period=period, task_id=self.request.id or "")
    if run.status == ReportRun.Status.RUNNING:
        # Another worker is computing this period, or died doing so: look again once that
        # attempt must have ended (then it has succeeded, or it can be taken over).
        raise self.retry(countdown=settings.CELERY_TASK_TIME_LIMIT + 5)
    return {"run": run.pk, "report": run.report, "period": run.period, "status": run.status}


@shared_task(name="reports.cleanup_report_runs")
def cleanup_report_runs() -> int:
    return services.report_runs_cleanup()
