"""Each report's figures against a known data set, and one run per (report, period)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from events.aws import client
from events.topology import TopologyNames, ensure_topology
from shared_settings.prometheus import sweep_dead_processes
from tests.users_service.events import user_state_event
from tests.users_service.reports.conftest import apply
from users_service.bridge.stats_export import StatsExporter, bridge_stats
from users_service.directory.models import InboxEntry
from users_service.directory.services import failed_task_record
from users_service.ops import metrics
from users_service.queues import REPORTS
from users_service.reports import definitions, services
from users_service.reports.models import ReportRun
from users_service.reports.periods import Granularity, PeriodError, current_period, parse_period


def test_headcount_by_department_counts_employed_active_users_on_the_day(known_users):
    run = services.report_run(name="headcount_by_department", period="2026-11-21")

    # old_eng and new_eng (ENG), nodept; not the leaver (left on the 20th), the inactive,
    # the erased or the future joiner.
    assert run.rows == [{"department": "(none)", "headcount": 1}, {"department": "ENG", "headcount": 2}]
    assert run.figures == {"total": 3}
    assert run.status == ReportRun.Status.SUCCEEDED
    on_the_20th = services.report_run(name="headcount_by_department", period="2026-11-20")
    assert on_the_20th.figures == {"total": 4}


def test_joiners_and_leavers_of_an_iso_week(known_users):
    run = services.report_run(name="joiners_and_leavers", period="2026-W47")

    assert run.rows == [
        {"department": "ENG", "joiners": 1, "leavers": 0},
        {"department": "SALES", "joiners": 0, "leavers": 1},
    ]
    assert run.figures == {"joiners": 1, "leavers": 1}
    assert (run.period_start.date().isoformat(), run.period_end.date().isoformat()) == (
        "2026-11-16",
        "2026-11-23",
    )


def test_pipeline_health_reads_inbox_metrics_and_dlq(known_users, aws):
    topology = ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames())
    sqs = client("sqs", aws)
    for body in ("poison-1", "poison-2"):
        sqs.send_message(QueueUrl=topology.dlq_url, MessageBody=body)
    apply(user_state_event(known_users["old_eng"], 1))  # a new event id with an old version: stale
    failed_task_record(
        task_id="t-1",
        task_name="directory.apply_user_event",
        args=[],
        kwargs={},
        queue="events",
        error="OperationalError",
        traceback="",
        attempts=9,
        transient=True,
    )
    metrics.CACHE_HITS.labels(cache="resources").inc(2)
    metrics.CACHE_HITS.labels(cache="catalogue").inc(1)
    metrics.CACHE_MISSES.labels(cache="resources").inc(1)
    # What the bridge exports, as run_bridge does: the report's lag is this figure.
    sweep_dead_processes()  # a bridge another test started is gone: its age no longer counts
    stats = bridge_stats()
    stats.oldest_message_age_seconds = 2.5
    StatsExporter(stats, loops=1).export()
    values = metrics.snapshot()
    hits, misses = metrics.value(metrics.CACHE_HITS, values), metrics.value(metrics.CACHE_MISSES, values)
    hour = current_period(Granularity.HOUR).key

    run = services.report_run(name="pipeline_health", period=hour)

    assert run.figures["events_applied"] == InboxEntry.objects.filter(outcome="applied").count() == 9
    assert run.figures["events_stale"] == 1
    assert run.figures["cache_hit_ratio"] == round(hits / (hits + misses), 4)
    assert run.figures["bridge_lag_seconds"] == 2.5
    assert run.figures["dlq_depth"] == 2
    assert run.figures["failed_tasks"] == 1
    assert run.figures["unavailable"] == []
    assert {"figure": "dlq_depth", "value": 2} in run.rows


def test_pipeline_health_reports_missing_figures_as_null(db, monkeypatch):
    from devstack.processes import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    run = services.report_run(name="pipeline_health", period="2026-11-23T10")

    assert run.figures["events_applied"] == 0
    assert run.figures["dlq_depth"] is None
    assert any(reason.startswith("DLQ: ") for reason in run.figures["unavailable"])


def test_same_period_twice_is_one_run(known_users):
    first = services.report_run(name="headcount_by_department", period="2026-11-21")
    second = services.report_run(name="headcount_by_department", period="2026-11-21")

    assert second.pk == first.pk
    assert ReportRun.objects.filter(report="headcount_by_department").count() == 1
    assert ReportRun.objects.get(pk=first.pk).attempts == 1


def test_a_retry_after_a_failure_reuses_the_run(known_users, monkeypatch):
    report = definitions.REPORTS["headcount_by_department"]

    def broken(period, progress=None):
        raise RuntimeError("database went away")

    monkeypatch.setitem(definitions.REPORTS, report.name, dataclasses.replace(report, compute=broken))
    with pytest.raises(RuntimeError):
        services.report_run(name=report.name, period="2026-11-21")
    failed = ReportRun.objects.get(report=report.name, period="2026-11-21")
    assert failed.status == ReportRun.Status.FAILED
    assert "database went away" in failed.error

    monkeypatch.setitem(definitions.REPORTS, report.name, report)
    retried = services.report_run(name=report.name, period="2026-11-21")

    assert retried.pk == failed.pk
    assert (retried.status, retried.attempts, retried.figures) == ("succeeded", 2, {"total": 3})
    assert ReportRun.objects.count() == 1


def test_a_run_another_worker_is_computing_is_not_computed_twice(known_users):
    period = parse_period(Granularity.DAY, "2026-11-21")
    busy = ReportRun.objects.create(
        report="headcount_by_department",
        period=period.key,
        period_start=period.start,
        period_end=period.end,
        started_at=timezone.now(),
        attempts=1,
    )

    run = services.report_run(name="headcount_by_department", period="2026-11-21")

    assert (run.pk, run.status, run.attempts, run.figures) == (busy.pk, "running", 1, {})


def test_a_run_abandoned_by_a_dead_worker_is_taken_over(known_users):
    period = parse_period(Granularity.DAY, "2026-11-21")
    started = timezone.now() - timedelta(seconds=REPORTS.time_limit + 1)
    abandoned = ReportRun.objects.create(
        report="headcount_by_department",
        period=period.key,
        period_start=period.start,
        period_end=period.end,
        started_at=started,
        attempts=1,
    )

    run = services.report_run(name="headcount_by_department", period="2026-11-21")

    assert (run.pk, run.status, run.attempts, run.figures) == (abandoned.pk, "succeeded", 2, {"total": 3})


def test_force_computes_a_succeeded_run_again_in_place(known_users):
    first = services.report_run(name="headcount_by_department", period="2026-11-21")
    apply(user_state_event(known_users["nodept"], 2, department="ENG", start_date=None))

    again = services.report_run(name="headcount_by_department", period="2026-11-21", force=True)

    assert again.pk == first.pk
    assert again.rows == [{"department": "ENG", "headcount": 3}]


def test_cleanup_keeps_runs_within_retention(db, settings):
    settings.REPORTS_RETENTION_DAYS = 30
    old = services.report_run(name="headcount_by_department", period="2026-01-01")
    recent = services.report_run(name="headcount_by_department", period="2026-11-01")
    ReportRun.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))

    assert services.report_runs_cleanup() == 1
    assert list(ReportRun.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.parametrize(
    ("granularity", "key"),
    [
        (Granularity.DAY, "2026-02-30"),
        (Granularity.DAY, "23/11/2026"),
        (Granularity.WEEK, "2026-11-23"),
        (Granularity.WEEK, "2025-W53"),
        (Granularity.HOUR, "2026-11-23T24"),
    ],
)
def test_bad_periods_are_refused_with_the_expected_format(granularity, key):
    with pytest.raises(PeriodError):
        parse_period(granularity, key)


def test_an_hour_period_is_sixty_minutes_across_the_dst_change(settings):
    settings.TIME_ZONE = "Europe/London"
    # Clocks go back at 02:00 BST on 25 October 2026: local 01:00 happens twice.
    # (Aware datetimes in one zone subtract as wall-clock times: compare instants in UTC.)
    period = parse_period(Granularity.HOUR, "2026-10-25T01")
    assert period.end.astimezone(UTC) - period.start.astimezone(UTC) == timedelta(hours=1)
    assert period.start.astimezone(UTC) == datetime(2026, 10, 25, 0, 0, tzinfo=UTC)  # the first 01:00 (BST)
    week = parse_period(Granularity.WEEK, "2026-W43")  # 19-26 October: one hour longer
    assert week.end.astimezone(UTC) - week.start.astimezone(UTC) == timedelta(days=7, hours=1)
    assert week.end.astimezone(UTC) == datetime(2026, 10, 26, 0, 0, tzinfo=UTC)
