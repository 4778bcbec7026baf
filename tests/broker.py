"""Real events workers for tests, and what the broker shows of their tasks: the ones a worker holds
(reserved, not acked yet)."""

from __future__ import annotations

from pathlib import Path

import redis

from devstack.processes import ManagedProcess, wait_until
from devstack.stack import BASE_DIR, MANAGE
from users_service.queues import EVENTS


def holds_task(broker: redis.Redis, unacked_key: str, task_id: str) -> bool:
    """Whether a worker holds task `task_id`: its message waits in the worker's unacked hash
    (`unacked_key`, a queue role's transport option) from its reservation until its ack."""
    needle = f'"{task_id}"'.encode()
    return any(needle in message for message in broker.hvals(unacked_key))


def start_events_worker(name: str, env: dict, log_dir: Path) -> ManagedProcess:
    """`manage.py users run_worker events` started and ready (its log says so)."""
    worker = ManagedProcess(
        name, [*MANAGE, "users", "run_worker", EVENTS.queue], log_dir=log_dir, env=env, cwd=BASE_DIR
    ).start()
    wait_until(
        lambda: " ready." in worker.log_path.read_text() or not worker.running,
        timeout=60,
        what=f"{name} ready",
    )
    assert worker.running, worker.log_tail()
    return worker
