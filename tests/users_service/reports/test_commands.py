"""`run_report` and `setup_periodic_tasks`, and the schedules' time zone across a DST change."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from users_service.reports.models import ReportRun
from users_service.reports.schedules import report_task_name


def test_run_report_runs_and_prints_figures(known_users):
    out = io.StringIO()
    call_command(
        "run_report", "joiners_and_leavers", "--period", "2026-W47", stdout=out, stderr=io.StringIO()
    )

    run = ReportRun.objects.get(report="joiners_and_leavers", period="2026-W47")
    assert f"run {run.pk}: joiners_and_leavers 2026-W47 succeeded" in out.getvalue()
    assert json.loads(out.getvalue().split("\n", 1)[1]) == {"joiners": 1, "leavers": 1}


def test_run_report_unknown_name_lists_the_known_ones(db):
    with pytest.raises(CommandError) as error:
        call_command("run_report", "headcount")
    message = str(error.value)
    for name in ("headcount_by_department", "joiners_and_leavers", "pipeline_health", "reconciliation"):
        assert name in message


def test_run_report_bad_period_names_the_format(db):
    with pytest.raises(CommandError, match="YYYY-Www"):
        call_command("run_report", "joiners_and_leavers", "--period", "2026-11-23")
    assert not ReportRun.objects.exists()


def test_setup_periodic_tasks_is_idempotent_and_leaves_other_tasks_alone(db):
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    theirs = PeriodicTask.objects.create(name="someone else's", task="cache.warm", interval=every_minute)

    call_command("setup_periodic_tasks", stdout=io.StringIO())
    first = {task.name: task.pk for task in PeriodicTask.objects.all()}
    call_command("setup_periodic_tasks", stdout=io.StringIO())

    assert {task.name: task.pk for task in PeriodicTask.objects.all()} == first
    assert PeriodicTask.objects.filter(pk=theirs.pk, task="cache.warm").exists()
    assert set(first) >= {
        "report: headcount_by_department",
        "report: joiners_and_leavers",
        "report: pipeline_health",
        "report: reconciliation",
        "reports: cleanup old runs",
        "celery.backend_cleanup",
    }
    headcount = PeriodicTask.objects.get(name=report_task_name("headcount_by_department"))
    assert (headcount.task, headcount.queue) == ("reports.run_report", "reports")
    assert json.loads(headcount.kwargs) == {"name": "headcount_by_department"}
    assert PeriodicTask.objects.get(name="celery.backend_cleanup").task == "celery.backend_cleanup"
    assert PeriodicTask.objects.get(name="reports: cleanup old runs").task == "reports.cleanup_report_runs"


@pytest.mark.parametrize(
    ("name", "task", "queue", "at", "description"),
    [
        (
            "reports: cleanup old runs",
            "reports.cleanup_report_runs",
            "reports",
            ("45", "4"),
            "Deletes ReportRuns older than REPORTS_RETENTION_DAYS",
        ),
        (
            "directory: prune failed tasks",
            "directory.prune_failed_tasks",
            "events",
            ("30", "4"),
            "Deletes re-enqueued failed tasks older than FAILED_TASKS_RETENTION_DAYS",
        ),
        (
            "celery.backend_cleanup",
            "celery.backend_cleanup",
            "reports",
            ("0", "4"),
            "Deletes expired task results (CELERY_RESULT_EXPIRES)",
        ),
    ],
)
def test_each_cleanup_is_scheduled_daily_on_its_tasks_queue_without_arguments(
    db, name, task, queue, at, description
):
    call_command("setup_periodic_tasks", stdout=io.StringIO())

    cleanup = PeriodicTask.objects.get(name=name)
    assert (cleanup.task, cleanup.queue, cleanup.description, json.loads(cleanup.kwargs)) == (
        task,
        queue,
        description,
        {},
    )
    crontab = cleanup.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week, crontab.day_of_month) == (*at, "*", "*")
    assert cleanup.enabled


def test_schedule_edits_made_in_admin_survive_setup_unless_reset(db):
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    task = PeriodicTask.objects.get(name=report_task_name("pipeline_health"))
    edited, _ = CrontabSchedule.objects.get_or_create(minute="7", hour="*", timezone="UTC")
    task.crontab, task.enabled = edited, False
    task.save()

    call_command("setup_periodic_tasks", stdout=io.StringIO())
    task.refresh_from_db()
    assert (task.crontab.minute, task.enabled) == ("7", False)

    call_command("setup_periodic_tasks", "--reset-schedules", stdout=io.StringIO())
    task.refresh_from_db()
    assert task.crontab.minute == "55"


def test_crontabs_follow_time_zone_across_the_dst_change(db, settings):
    settings.TIME_ZONE = "Europe/London"
    call_command("setup_periodic_tasks", stdout=io.StringIO())
    crontab = PeriodicTask.objects.get(name=report_task_name("headcount_by_department")).crontab
    assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("5", "0", "Europe/London")
    schedule = crontab.schedule

    def due_at(now: datetime, last_run_at: datetime) -> bool:
        schedule.nowfun = lambda: now.astimezone(schedule.tz)
        return schedule.is_due(last_run_at).is_due

    # Ran at 00:05 BST on Sunday 25 October 2026; the clocks go back at 02:00 that night.
    last_run = datetime(2026, 10, 24, 23, 5, tzinfo=UTC)
    # 23:30 UTC is 23:30 GMT on the 25th: a scheduler stuck on UTC+1 would think it is 00:30 and run.
    assert not due_at(datetime(2026, 10, 25, 23, 30, tzinfo=UTC), last_run)
    assert due_at(datetime(2026, 10, 26, 0, 6, tzinfo=UTC), last_run)
    # And in spring: 00:05 GMT on 29 March 2026, the next at 00:05 BST = 23:05 UTC on the 29th.
    spring_run = datetime(2026, 3, 29, 0, 5, tzinfo=UTC)
    assert not due_at(datetime(2026, 3, 29, 23, 0, tzinfo=UTC), spring_run)
    assert due_at(datetime(2026, 3, 29, 23, 6, tzinfo=UTC), spring_run)


@pytest.mark.parametrize("task", ["reports.run_report", "reports.cleanup_report_runs"])
def test_report_tasks_are_routed_to_the_reports_queue_however_sent(task):
    from users_service.celery import app

    assert app.amqp.router.route({}, task)["queue"].name == "reports"
    assert app.amqp.router.route({}, "directory.apply_user_event")["queue"].name == "events"


def test_the_results_cleanup_is_scheduled_once_on_its_roles_queue_in_the_time_zone(db, settings):
    settings.TIME_ZONE = "Europe/London"
    call_command("setup_periodic_tasks", stdout=io.StringIO())

    [cleanup] = PeriodicTask.objects.filter(task="celery.backend_cleanup")
    assert cleanup.name == "celery.backend_cleanup"
    assert cleanup.queue == "reports"
    assert (cleanup.crontab.minute, cleanup.crontab.hour, str(cleanup.crontab.timezone)) == (
        "0",
        "4",
        "Europe/London",
    )


@pytest.fixture
def beat_lock_redis(redis_url, settings) -> str:
    settings.REPORTS_BEAT_LOCK_URL = redis_url
    return redis_url


def _cleanup_after_a_scheduler_starts(scheduler_class) -> PeriodicTask:
    from users_service.celery import app

    call_command("setup_periodic_tasks", stdout=io.StringIO())
    cleanup = PeriodicTask.objects.get(name="celery.backend_cleanup")
    cleanup.crontab, _ = CrontabSchedule.objects.get_or_create(minute="30", hour="3", timezone="UTC")
    cleanup.save()  # an edit made in admin

    scheduler = scheduler_class(app=app)
    try:
        cleanup.refresh_from_db()
    finally:
        scheduler.close()
    return cleanup


def test_starting_beat_leaves_the_results_cleanup_as_setup_and_admin_left_it(db, beat_lock_redis):
    from users_service.reports.scheduler import GuardedDatabaseScheduler

    cleanup = _cleanup_after_a_scheduler_starts(GuardedDatabaseScheduler)

    assert (cleanup.crontab.minute, cleanup.crontab.hour, cleanup.queue) == ("30", "3", "reports")


def test_the_plain_database_scheduler_would_rewrite_it(db):
    """Why the guarded scheduler skips beat's default entry: the plain one rewrites the row at start."""
    from django_celery_beat.schedulers import DatabaseScheduler

    cleanup = _cleanup_after_a_scheduler_starts(DatabaseScheduler)

    assert (cleanup.crontab.minute, cleanup.crontab.hour, cleanup.queue) == ("0", "4", None)


def test_one_place_names_the_beat_scheduler(settings):
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    assert settings.CELERY_BEAT_SCHEDULER == "users_service.reports.scheduler:GuardedDatabaseScheduler"
    for text in ((root / "Procfile").read_text(), (root / "docker" / "users-beat.sh").read_text()):
        assert "beat" in text
        assert "--scheduler" not in text
        assert "-S " not in text
