"""The reports: each a name, a period granularity, a default crontab, and a function computing its figures.

A compute function reads; it never writes a `ReportRun` (see `services.report_run`).
Figures that a part of the system does not provide (yet) are `None`, never guessed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.db.models import Count, Q

from events.aws import AwsSettings, client
from events.topology import TopologyNames
from users_service.directory.models import FailedTask, InboxEntry, UserRecord
from users_service.ops import metrics
from users_service.reports.periods import Granularity, Period
from users_service.reports.reconciliation import reconcile
from users_service.upstream import Progress

log = logging.getLogger(__name__)

NO_DEPARTMENT = "(none)"


@dataclass
class ReportResult:
    figures: dict[str, Any]
    rows: list[dict[str, Any]]


@dataclass(frozen=True)
class Crontab:
    """Fields of a django-celery-beat `CrontabSchedule`, in `TIME_ZONE`."""

    minute: str = "0"
    hour: str = "*"
    day_of_week: str = "*"
    day_of_month: str = "*"
    month_of_year: str = "*"


@dataclass(frozen=True)
class Report:
    name: str
    title: str
    granularity: Granularity
    schedule: Crontab
    compute: Callable[[Period, Progress | None], ReportResult]
    #: The scheduled run reports on the period just ended rather than the current one.
    previous_period: bool = False
    chart: dict[str, Any] = field(default_factory=dict)


def _live_users():
    return UserRecord.objects.filter(erased=False, version__gt=0)


def headcount_by_department(period: Period, progress: Progress | None = None) -> ReportResult:
    """Active users employed on the period's day (started by then, not yet left), per department."""
    day = period.first_day
    employed = _live_users().filter(
        Q(is_active=True),
        Q(start_date__isnull=True) | Q(start_date__lte=day),
        Q(end_date__isnull=True) | Q(end_date__gte=day),
    )
    counts = employed.values("department").annotate(headcount=Count("id")).order_by("department")
    rows = [{"department": c["department"] or NO_DEPARTMENT, "headcount": c["headcount"]} for c in counts]
    rows.sort(key=lambda row: row["department"])
    return ReportResult(figures={"total": sum(row["headcount"] for row in rows)}, rows=rows)


def joiners_and_leavers(period: Period, progress: Progress | None = None) -> ReportResult:
    """Users whose start_date (joiners) or end_date (leavers) falls in the week, per department."""
    first, last = period.first_day, period.last_day
    by_department: dict[str, dict[str, int]] = {}
    for kind, lookup in (("joiners", "start_date__range"), ("leavers", "end_date__range")):
        counts = _live_users().filter(**{lookup: (first, last)}).values("department").annotate(n=Count("id"))
        for c in counts:
            row = by_department.setdefault(c["department"] or NO_DEPARTMENT, {"joiners": 0, "leavers": 0})
            row[kind] = c["n"]
    rows = [{"department": name, **values} for name, values in sorted(by_department.items())]
    return ReportResult(
        figures={
            "joiners": sum(row["joiners"] for row in rows),
            "leavers": sum(row["leavers"] for row in rows),
        },
        rows=rows,
    )


def _dlq_depth() -> tuple[int | None, str | None]:
    names = TopologyNames.from_env()
    sqs = client(
        "sqs", AwsSettings.from_env(), connect_timeout=1, read_timeout=2, retries={"max_attempts": 1}
    )
    try:
        url = sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    except (BotoCoreError, ClientError) as exc:
        return None, f"DLQ: {type(exc).__name__}: {exc}"[:300]
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"]), None


def pipeline_health(period: Period, progress: Progress | None = None) -> ReportResult:
    """Events applied in the hour (the inbox), plus the bridge's, DLQ's and cache's figures as of now."""
    window = InboxEntry.objects.filter(processed_at__gte=period.start, processed_at__lt=period.end)
    outcomes = dict(window.values_list("outcome").annotate(n=Count("id")))
    unavailable: list[str] = []
    values = metrics.snapshot()
    hits = metrics.value(metrics.CACHE_HITS, values)
    misses = metrics.value(metrics.CACHE_MISSES, values)
    lookups = (hits or 0) + (misses or 0)
    dlq_depth, dlq_error = _dlq_depth()
    if dlq_error:
        unavailable.append(dlq_error)
    figures: dict[str, Any] = {
        "events_applied": outcomes.get(InboxEntry.Outcome.APPLIED, 0),
        "events_stale": outcomes.get(InboxEntry.Outcome.STALE, 0),
        "bridge_lag_seconds": metrics.value(metrics.BRIDGE_OLDEST_MESSAGE_AGE, values, combine="max"),
        "dlq_depth": dlq_depth,
        "failed_tasks": FailedTask.objects.count(),
        "cache_hit_ratio": round(hits / lookups, 4) if hits is not None and lookups else None,
    }
    rows = [{"figure": name, "value": value} for name, value in figures.items()]
    figures["unavailable"] = unavailable
    return ReportResult(figures=figures, rows=rows)


def reconciliation(period: Period, progress: Progress | None = None) -> ReportResult:
    """Compare the read model with the monolith and repair drift; the rows list every repair."""
    result = reconcile(progress=progress)
    figures = {
        "upstream_users": result.upstream_users,
        **{outcome: result.counts.get(outcome, 0) for outcome in REPAIR_FIGURES},
    }
    return ReportResult(figures=figures, rows=result.repairs)


REPAIR_FIGURES = ("created", "updated", "corrected", "erased", "skipped", "unchanged")

REPORTS: dict[str, Report] = {
    report.name: report
    for report in (
        Report(
            "headcount_by_department",
            "Headcount by department",
            Granularity.DAY,
            Crontab(minute="5", hour="0"),
            headcount_by_department,
            chart={"kind": "bar_rows", "label": "department", "values": ["headcount"]},
        ),
        Report(
            "joiners_and_leavers",
            "Joiners and leavers",
            Granularity.WEEK,
            Crontab(minute="15", hour="0", day_of_week="1"),
            joiners_and_leavers,
            previous_period=True,
            chart={"kind": "history", "values": ["joiners", "leavers"]},
        ),
        Report(
            "pipeline_health",
            "Pipeline health",
            Granularity.HOUR,
            Crontab(minute="55"),
            pipeline_health,
            chart={"kind": "history", "values": ["events_applied", "dlq_depth", "failed_tasks"]},
        ),
        Report(
            "reconciliation",
            "Reconciliation",
            Granularity.DAY,
            Crontab(minute="30", hour="2"),
            reconciliation,
            chart={"kind": "history", "values": ["created", "updated", "corrected", "erased"]},
        ),
    )
}


def get_report(name: str) -> Report:
    """Raises `KeyError` with the known names when `name` is not a report."""
    try:
        return REPORTS[name]
    except KeyError:
        raise KeyError(f"unknown report '{name}'; known reports: {', '.join(sorted(REPORTS))}") from None
