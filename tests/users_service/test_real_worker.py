"""The events role's real worker (`manage.py users run_worker events`): killed with SIGKILL
mid-task, and failing on a transient database error.

Kill: the test holds SQLite's write lock so that the worker's task is running (its message
reserved and not acked) and cannot commit; then it kills the worker's whole
process group with -9 (as a container runtime does), releases the lock and starts a
second events worker at once. The message waits under the role's own unacked keys until
it is older than the role's visibility timeout; the second worker's restore sweep then
gives it back and applies it. A duplicate delivery changes nothing.

Transient failure: with the inbox table renamed away every run raises OperationalError; the
worker retries through the broker with backoff, then records a FailedTask; once the table is
back, re-enqueueing it (the admin action's service) applies the event.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest
import redis
from celery import Celery

from devstack.processes import ManagedProcess, wait_until
from devstack.stack import manage
from events import types
from shared_settings.sqlite import USERS_SQLITE
from tests.broker import holds_task, start_events_worker
from tests.users_service.events import new_user_id, user_state_event
from users_service.queues import EVENTS, RESTORE_SWEEP_SECONDS

TASK = "directory.apply_user_event"


def wait_succeeded(worker: ManagedProcess, task_id: str) -> None:
    """Until the worker logs Celery's "Task …[task_id] succeeded" line."""
    wait_until(
        lambda: f"[{task_id}] succeeded" in worker.log_path.read_text(),
        timeout=60,
        what=f"{task_id} succeeded\n{worker.log_tail()}",
    )


def _scalar(db: Path, sql: str, *params: object) -> object:
    with sqlite3.connect(db) as connection:
        return connection.execute(sql, params).fetchone()[0]


def _returned(worker: ManagedProcess, task_id: str) -> str:
    """What the task returned, from the worker's "Task …[id] succeeded in 0.01s: 'applied'" line."""
    for line in worker.log_path.read_text().splitlines():
        if f"[{task_id}] succeeded" in line:
            # One JSON object a line (LOG_FORMAT=json, the default): the message is its `event`.
            return json.loads(line)["event"].rsplit(": ", 1)[1].strip()
    raise AssertionError(f"no success line for {task_id}")


@pytest.mark.e2e
def test_events_worker_killed_mid_task_gets_its_event_applied_by_another(worker_env, redis_url, tmp_path):
    db = tmp_path / USERS_SQLITE
    broker = redis.Redis.from_url(redis_url)
    # Not the current app: shared tasks of the users service must keep resolving to its own app.
    client = Celery(broker=redis_url, backend=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    user_id = new_user_id()
    envelope = user_state_event(user_id, 1, types.USER_CREATED)
    task_id = f"{envelope['event_id']}:{TASK}"

    lock = sqlite3.connect(db, isolation_level=None)
    lock.execute("BEGIN IMMEDIATE")  # the worker's transaction waits for this write lock
    first = start_events_worker("worker-1", worker_env, tmp_path / "log")
    second = None
    try:
        client.send_task(TASK, args=[envelope], task_id=task_id, queue=EVENTS.queue)
        # The event task stores no STARTED/SUCCESS rows (README "Throughput"): the broker's unacked
        # hash says when the worker holds the message, the worker's log what each run returned.
        wait_until(
            lambda: holds_task(broker, EVENTS.transport_options()["unacked_key"], task_id),
            timeout=60,
            what=f"task reserved\n{first.log_tail()}",
        )
        first.signal(signal.SIGKILL)  # the whole process group: the pool's children too
        first.process.wait(10)
        killed_at = time.monotonic()
        assert first.process.returncode == -signal.SIGKILL
        lock.execute("ROLLBACK")
        assert _scalar(db, "SELECT count(*) FROM directory_inboxentry") == 0
        # Held under the role's own unacked keys, where only an events worker restores it.
        assert broker.hlen(EVENTS.transport_options()["unacked_key"]) == 1
        assert broker.hlen("unacked") == 0

        second = start_events_worker("worker-2", worker_env, tmp_path / "log")
        wait_until(
            lambda: f"[{task_id}] succeeded" in second.log_path.read_text(),
            timeout=EVENTS.visibility_timeout + 10 * RESTORE_SWEEP_SECONDS + 60,
            what=f"redelivery\n{second.log_tail()}",
            interval=0.5,
        )
        print(f"kill -9 -> applied by another worker: {time.monotonic() - killed_at:.1f}s")
        assert _returned(second, task_id) == "'applied'"

        # The bridge may deliver the same event again: the inbox makes it a no-op.
        client.send_task(TASK, args=[envelope], task_id=f"{task_id}:again", queue=EVENTS.queue)
        wait_until(
            lambda: f"[{task_id}:again] succeeded" in second.log_path.read_text(),
            timeout=30,
            what=f"duplicate\n{second.log_tail()}",
        )
        assert _returned(second, f"{task_id}:again") == "'duplicate'"
    finally:
        lock.close()
        first.stop()
        if second is not None:
            second.stop()

    event_id = envelope["event_id"]
    assert (
        _scalar(db, "SELECT count(*) FROM directory_inboxentry WHERE event_id = ?", event_id.replace("-", ""))
        == 1
    )
    assert _scalar(db, "SELECT version FROM directory_userrecord WHERE id = ?", user_id.replace("-", "")) == 1


def test_transient_errors_retry_then_fail_and_a_requeue_applies(worker_env, redis_url, tmp_path):
    db = tmp_path / USERS_SQLITE
    # Not the current app: shared tasks of the users service must keep resolving to its own app.
    client = Celery(broker=redis_url, backend=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"], result_accept_content=["json"])
    user_id = new_user_id()
    envelope = user_state_event(user_id, 1, types.USER_CREATED)
    task_id = f"{envelope['event_id']}:{TASK}"
    with sqlite3.connect(db) as connection:
        connection.execute("ALTER TABLE directory_inboxentry RENAME TO hidden_inbox")
    worker = start_events_worker("worker", worker_env, tmp_path / "log")
    try:
        client.send_task(TASK, args=[envelope], task_id=task_id, queue=EVENTS.queue)
        wait_until(
            lambda: _scalar(db, "SELECT count(*) FROM directory_failedtask") == 1,
            timeout=60,
            what=f"failed task recorded\n{worker.log_tail()}",
        )
        with sqlite3.connect(db) as connection:
            row = connection.execute(
                "SELECT task_id, attempts, transient, status, error FROM directory_failedtask"
            ).fetchone()
            connection.execute("ALTER TABLE hidden_inbox RENAME TO directory_inboxentry")
        assert row[:4] == (task_id, 3, 1, "failed")
        assert row[4].startswith("OperationalError: no such table")
        assert worker.log_path.read_text().count(f"Task {TASK}[{task_id}] retry") == 2

        manage(
            "users",
            "shell",
            "-c",
            "from users_service.directory.models import FailedTask; "
            "from users_service.directory.services import failed_task_requeue; "
            "print(failed_task_requeue(failed_tasks=FailedTask.objects.all()))",
            env=worker_env,
        )
        wait_until(
            lambda: _scalar(db, "SELECT count(*) FROM directory_userrecord") == 1,
            timeout=30,
            what=f"requeued task applied\n{worker.log_tail()}",
        )
    finally:
        worker.stop()
    assert _scalar(db, "SELECT status FROM directory_failedtask WHERE task_id = ?", task_id) == "requeued"
    assert _scalar(db, "SELECT count(*) FROM directory_inboxentry") == 1
