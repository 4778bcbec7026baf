"""The worker's database connections around tasks: kept between tasks, dropped when broken, and
health-checked (CONN_HEALTH_CHECKS) once per run of tasks that follow each other, not per task."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest
from celery import signals
from django.db import connection, connections

from users_service import celery as service_celery

pytestmark = pytest.mark.django_db(transaction=True)

TASK = SimpleNamespace(request=SimpleNamespace(is_eager=False))


@pytest.fixture
def health_checks(monkeypatch) -> SimpleNamespace:
    """Counts the connection's health checks (Django's `is_usable`, a `SELECT 1` on PostgreSQL) and
    closes; `usable` is what the next check answers."""
    watched = SimpleNamespace(checks=[], closes=[], usable=True)
    is_usable, close = connection.is_usable, connection.close

    def counted_check() -> bool:
        watched.checks.append(1)
        return is_usable() and watched.usable

    def counted_close() -> None:
        watched.closes.append(1)
        close()

    monkeypatch.setattr(connection, "is_usable", counted_check)
    monkeypatch.setattr(connection, "close", counted_close)
    monkeypatch.setattr(service_celery, "_task_thread", threading.local(), raising=False)  # no task has ended
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    if connection.connection is not None:
        # Opened by an earlier test, maybe more than CONN_MAX_AGE ago: then every task would close
        # it as too old. A fresh lifetime, as a connection opened now gets.
        monkeypatch.setattr(connections["default"], "close_at", time.monotonic() + 60)
    return watched


def run_task() -> None:
    signals.task_prerun.send(sender=None, task_id="t", task=TASK, args=(), kwargs={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    signals.task_postrun.send(sender=None, task_id="t", task=TASK, args=(), kwargs={}, retval=None)


def test_tasks_back_to_back_check_their_connection_once(health_checks):
    run_task()
    first = len(health_checks.checks)
    run_task()
    run_task()
    run_task()
    assert len(health_checks.checks) == first <= 1
    assert health_checks.closes == []


def test_a_task_after_an_idle_spell_checks_its_connection(health_checks, monkeypatch):
    run_task()
    first = len(health_checks.checks)
    monkeypatch.setattr(service_celery, "HEALTH_CHECK_AFTER_IDLE_SECONDS", 0.0)
    run_task()
    assert len(health_checks.checks) == first + 1


def test_a_connection_a_task_broke_is_dropped_after_it(health_checks):
    run_task()
    signals.task_prerun.send(sender=None, task_id="t", task=TASK, args=(), kwargs={})
    connection.errors_occurred = True  # what a DatabaseError in the task leaves
    health_checks.usable = False
    signals.task_postrun.send(sender=None, task_id="t", task=TASK, args=(), kwargs={}, retval=None)
    assert health_checks.closes == [1]
    connection.errors_occurred = False
