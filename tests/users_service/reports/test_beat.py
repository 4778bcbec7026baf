"""Celery beat really fires: beat (with the guarded scheduler from settings) and a worker as processes.

A one-second schedule of a report for a fixed period runs for a few seconds: many task
results, one `ReportRun`. A second beat refuses to schedule and says so in its log,
and takes over once the first one stops.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest

from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.stack import BASE_DIR, MANAGE, manage, stack_env
from shared_settings.sqlite import USERS_SQLITE
from tests.users_service.migrated import migrated_database

CELERY = str(Path(MANAGE[0]).parent / "celery")
STANDING_BY = "another beat process holds the beat lock"
SENDING = "Sending due task"

CREATE_SCHEDULE = """
import json
from django_celery_beat.models import IntervalSchedule, PeriodicTask
every_second, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)
PeriodicTask.objects.update_or_create(
    name="test: headcount every second",
    defaults={"task": "reports.run_report", "interval": every_second,
              "kwargs": json.dumps({"name": "headcount_by_department", "period": "2026-11-21"})},
)
"""


def _query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db, timeout=20) as connection:
        return connection.execute(sql).fetchall()


def _log(process: ManagedProcess) -> str:
    return process.log_path.read_text(errors="replace")


@pytest.mark.e2e
def test_beat_fires_reports_once_per_period_and_a_second_beat_stands_by(redis_server, tmp_path):
    env = stack_env(
        aws_endpoint=f"http://127.0.0.1:{free_port()}",
        redis_url=redis_server.url,
        VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL=f"{redis_server.url}/6",
        REPORTS_BEAT_LOCK_TTL="9",  # renewed every 3 s: a slow machine does not lose it
        LOG_LEVEL="INFO",
    )
    for name in ("USERS_DATABASE_URL", "DATABASE_URL"):
        env.pop(name, None)
    db = tmp_path / USERS_SQLITE
    migrated_database(env)
    manage("users", "setup_periodic_tasks", env=env)
    manage("users", "shell", "-c", CREATE_SCHEDULE, env=env)

    beat_command = [CELERY, "-A", "users_service", "beat", "--loglevel", "INFO", "--max-interval", "1"]
    # The reports role's worker, as the Procfile and compose start it.
    worker = ManagedProcess(
        "worker", [*MANAGE, "users", "run_worker", "reports"], log_dir=tmp_path / "log", env=env, cwd=BASE_DIR
    )
    first = ManagedProcess("beat-1", beat_command, log_dir=tmp_path / "log", env=env, cwd=BASE_DIR)
    second = ManagedProcess("beat-2", beat_command, log_dir=tmp_path / "log", env=env, cwd=BASE_DIR)
    processes = [worker, first]

    def results() -> int:
        return _query(
            db,
            "SELECT COUNT(*) FROM django_celery_results_taskresult "
            "WHERE task_name = 'reports.run_report' AND status = 'SUCCESS'",
        )[0][0]

    def logs() -> str:
        return "\n".join(f"--- {p.name}\n{p.log_tail(30)}" for p in processes)

    try:
        worker.start()
        first.start()
        try:
            wait_until(lambda: results() >= 3, timeout=60, what="three report tasks fired by beat")
        except TimeoutError:
            pytest.fail(f"beat did not fire:\n{logs()}")
        second.start()
        processes.append(second)
        try:
            wait_until(lambda: STANDING_BY in _log(second), timeout=30, what="the second beat standing by")
        except TimeoutError:
            pytest.fail(f"second beat did not stand by:\n{logs()}")
        time.sleep(3)  # several of the second beat's ticks: it must send nothing meanwhile
        assert SENDING not in _log(second), logs()

        runs = _query(db, "SELECT report, period, status, attempts FROM reports_reportrun")
        assert runs == [("headcount_by_department", "2026-11-21", "succeeded", 1)]
        task_results = _query(
            db,
            "SELECT result FROM django_celery_results_taskresult "
            "WHERE task_name = 'reports.run_report' AND status = 'SUCCESS'",
        )
        assert {json.loads(result)["run"] for (result,) in task_results if result} == {1}

        first.stop()  # releases the lock: the standby takes over
        try:
            wait_until(lambda: SENDING in _log(second), timeout=30, what="the second beat taking over")
        except TimeoutError:
            pytest.fail(f"second beat did not take over:\n{logs()}")
        assert "acquired" in _log(second)
    finally:
        for process in reversed(processes):
            process.stop()
    assert _query(db, "SELECT COUNT(*) FROM reports_reportrun") == [(1,)]
