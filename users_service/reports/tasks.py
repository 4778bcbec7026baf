"""Celery tasks of the reports (queue `reports`, users_service/queues.py): thin shells around `services`."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from events.errors import TransientError
from users_service.queues import REPORTS
from users_service.reports import services
from users_service.reports.models import ReportRun

#: What may clear by itself while a report runs: the database, or the monolith (reconciliation).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, TransientError)


@shared_task(name="reports.run_report", bind=True, autoretry_for=TRANSIENT_ERRORS)
def run_report(self: Any, name: str, period: str | None = None) -> dict[str, Any]:
    run = services.report_run(name=name, period=period, task_id=self.request.id or "")
    if run.status == ReportRun.Status.RUNNING:
        # Another worker is computing this period, or died doing so: look again once that
        # attempt must have ended (then it has succeeded, or it can be taken over).
        raise self.retry(countdown=REPORTS.time_limit + 5)
    return {"run": run.pk, "report": run.report, "period": run.period, "status": run.status}


@shared_task(name="reports.cleanup_report_runs", autoretry_for=TRANSIENT_ERRORS)
def cleanup_report_runs() -> int:
    return services.report_runs_cleanup()
