"""Faults on real processes; after each, every monolith user equals its read-model row and every event
was applied exactly once (`FaultStack.wait_converged`). The scenarios share one stack and run in order."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from pathlib import Path

from devstack.faults import APPLY_TASK, FaultStack
from devstack.processes import wait_until
from events.aws import AwsSettings, client


def _sqs(stack: FaultStack):
    return client("sqs", AwsSettings.from_env(stack.env))


def _notification(topic_arn: str, message: str) -> str:
    """The body SNS delivers to a subscribed queue (no raw delivery)."""
    return json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": topic_arn, "Message": message})


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_baseline_events_flow_and_converge(stack: FaultStack) -> None:
    stack.create_users(5, tag="baseline")
    state = stack.wait_converged(timeout=60)
    assert state.users == 5


def test_bridge_killed_while_a_burst_drains_loses_and_doubles_nothing(stack: FaultStack) -> None:
    before = stack.applied_count()
    stack.create_users(40, tag="bridge-kill")
    # Kill while the burst is part way: some events applied, others received or still queued.
    wait_until(lambda: stack.applied_count() > before + 3, timeout=60, what="the burst started")
    stack.restart("bridge")
    state = stack.wait_converged(timeout=60)
    assert state.users == 45


def test_events_worker_killed_mid_task_applies_the_event_once(stack: FaultStack) -> None:
    worker = stack.processes["worker-events"]
    # Hold the users database's write lock: the worker's apply waits on it, mid-task, unacked.
    lock = sqlite3.connect(stack.workdir / "users.sqlite3", isolation_level=None, timeout=20)
    lock.execute("BEGIN IMMEDIATE")
    try:
        [user_id] = stack.create_users(1, tag="worker-kill")
        [event_id] = stack.outbox_events_of(user_id)
        received = f"{APPLY_TASK}[{event_id}:{APPLY_TASK}] received"
        wait_until(lambda: received in worker.log_path.read_text(errors="replace"), timeout=30, what=received)
        # kill -9 of the pool's processes: one of them is inside the task (a child that runs out of
        # memory dies the same way); the worker's main process stays and forks new ones.
        for child in _children(worker.process.pid):
            os.kill(child, signal.SIGKILL)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    state = stack.wait_converged(timeout=60)
    assert user_id not in state.differing
    assert "SIGKILL" in worker.log_path.read_text(errors="replace")
