"""Read-only queries on report runs."""

from __future__ import annotations

from django.db.models import QuerySet

from users_service.reports.models import ReportRun


def report_run_list(*, report: str | None = None, period: str | None = None) -> QuerySet[ReportRun]:
    runs = ReportRun.objects.all().order_by("-period_start", "report", "-id")
    if report:
        runs = runs.filter(report=report)
    if period:
        runs = runs.filter(period=period)
    return runs


def report_run_get(run_id: int) -> ReportRun:
    """Raises `ReportRun.DoesNotExist`."""
    return ReportRun.objects.get(pk=run_id)


def report_run_history(*, report: str, limit: int = 24) -> list[ReportRun]:
    """The newest succeeded runs of a report, oldest first (for charts)."""
    runs = ReportRun.objects.filter(report=report, status=ReportRun.Status.SUCCEEDED).order_by(
        "-period_start"
    )
    return list(reversed(runs[:limit]))
