"""Run a report for a period into its one `ReportRun`, and keep old runs per the retention setting."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from users_service.queues import REPORTS
from users_service.reports.definitions import get_report
from users_service.reports.models import ReportRun
from users_service.reports.periods import Period, current_period, parse_period
from users_service.upstream import Progress

log = logging.getLogger(__name__)


def report_period(*, name: str, period: str | None = None) -> Period:
    """The period a run of `name` covers: the given key, else the scheduled default. Raises on bad input."""
    report = get_report(name)
    if period:
        return parse_period(report.granularity, period)
    return current_period(report.granularity, previous=report.previous_period)


def _create_or_get(*, name: str, period: Period, task_id: str) -> tuple[ReportRun, bool]:
    """The run's row, created (already claimed by us) if missing; the unique constraint settles a race."""
    defaults = {
        "period_start": period.start,
        "period_end": period.end,
        "task_id": task_id,
        "status": ReportRun.Status.RUNNING,
        "started_at": timezone.now(),
        "attempts": 1,
    }
    try:
        with transaction.atomic():
            return ReportRun.objects.get_or_create(report=name, period=period.key, defaults=defaults)
    except IntegrityError:
        return ReportRun.objects.get(report=name, period=period.key), False


def _take_over(run: ReportRun, *, force: bool, task_id: str) -> bool:
    """Claim an existing run with one conditional UPDATE, so that two workers never compute it together.

    Claimable: a failed run, a run whose computing attempt must have died (running for
    longer than the reports' time limit), and with `force` a succeeded one.
    """
    abandoned_before = timezone.now() - timedelta(seconds=REPORTS.time_limit)
    claimable = Q(status=ReportRun.Status.FAILED) | Q(
        status=ReportRun.Status.RUNNING, started_at__lt=abandoned_before
    )
    if force:
        claimable |= Q(status=ReportRun.Status.SUCCEEDED)
    won = ReportRun.objects.filter(claimable, pk=run.pk).update(
        status=ReportRun.Status.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        task_id=task_id or run.task_id,
        error="",
    )
    run.refresh_from_db()
    return won == 1


def report_run(
    *,
    name: str,
    period: str | None = None,
    force: bool = False,
    task_id: str = "",
    progress: Progress | None = None,
) -> ReportRun:
    """Compute report `name` for `period` unless it already succeeded (then return that run).

    A retry or a duplicate delivery finds the same row. A failed or abandoned run is
    computed again into it; a succeeded one is left alone unless `force`; a run that
    another worker is computing right now is returned as it is (status `running`).
    """
    report = get_report(name)
    target = report_period(name=name, period=period)
    run, created = _create_or_get(name=name, period=target, task_id=task_id)
    if not created and not _take_over(run, force=force, task_id=task_id):
        log.info("report %s for %s is %s (run %s): not computed again", name, target.key, run.status, run.pk)
        return run
    try:
        result = report.compute(target, progress)
    except Exception as exc:
        # Record the failure on the run, then let the caller (Celery's retry, the command) decide.
        run.status = ReportRun.Status.FAILED
        run.error = f"{type(exc).__name__}: {exc}"[:2000]
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "error", "finished_at"])
        raise
    run.figures = result.figures
    run.rows = result.rows
    run.status = ReportRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.save(update_fields=["figures", "rows", "status", "finished_at"])
    log.info("report %s for %s: %s", name, target.key, result.figures)
    return run


def report_runs_cleanup(*, retention_days: int | None = None) -> int:
    """Delete runs created more than `retention_days` (default `REPORTS_RETENTION_DAYS`) ago."""
    days = settings.REPORTS_RETENTION_DAYS if retention_days is None else retention_days
    deleted, _ = ReportRun.objects.filter(created_at__lt=timezone.now() - timedelta(days=days)).delete()
    return deleted
