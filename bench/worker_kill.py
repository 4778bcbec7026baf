"""Benchmark `worker_kill`: seconds from `kill -9` of a worker holding an event mid-apply until another
worker has applied it.

    python -m bench.worker_kill        # or: make bench B=worker_kill

The event's apply is held on SQLite's write lock (the bench holds it), so the worker has the message
reserved and unacked; the bench then kills the worker's whole process group with SIGKILL (as a
container runtime does), releases the lock and starts a second, identical worker at once.

`value`: the events role (`manage.py users run_worker events`: its own unacked keys, its visibility
timeout, a restore sweep every few seconds). `baseline`: a worker without a role on all queues (the
shape of the former single worker: kombu's shared unacked keys and the longest visibility timeout),
watched for at most KILL_WAIT seconds; if it has not applied the event by then, `baseline` is that
bound and `params.baseline_applied` is false (the ratio is then a lower bound).
"""

from __future__ import annotations

import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

from bench._events import user_envelope
from bench.common import emit, log, result
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import BASE_DIR, MANAGE, manage, stack_env
from shared_settings.sqlite import USERS_SQLITE
from users_service.queues import EVENTS, RESTORE_SWEEP_SECONDS

TASK = "directory.apply_user_event"
KILL_WAIT = float(os.environ.get("KILL_WAIT", "150"))
ROLE_WORKER = [*MANAGE, "users", "run_worker", "events"]
ROLELESS_WORKER = [
    str(Path(sys.executable).parent / "celery"),
    *("-A", "users_service", "worker", "--pool", "threads", "--concurrency", "8"),
    *("--queues", "events,cache,reports", "--loglevel", "INFO"),
]


def _in_log(worker: ManagedProcess, text: str) -> bool:
    return text in worker.log_path.read_text(errors="replace")


def _reserved(broker: redis.Redis, unacked_key: str, task_id: str) -> bool:
    """Whether a worker holds `task_id` unacked: its message is in the worker's unacked hash from its
    reservation until its ack (the workers log no line at the reservation)."""
    needle = f'"{task_id}"'.encode()
    return any(needle in message for message in broker.hvals(unacked_key))


def kill_and_reapply(command: list[str], label: str, unacked_key: str) -> float | None:
    """Seconds from the kill until a second worker applied the event, or None after KILL_WAIT."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-kill-{label}-"))
    server = RedisServer(free_port(), workdir / "redis").start()
    workers: list[ManagedProcess] = []
    try:
        env = stack_env(aws_endpoint="http://127.0.0.1:9", redis_url=server.url, VAR_DIR=str(workdir))
        env.pop("USERS_DATABASE_URL", None)
        manage("users", "migrate", "--noinput", env=env)
        client = Celery(broker=env["CELERY_BROKER_URL"], set_as_current=False)
        client.conf.update(task_serializer="json", accept_content=["json"])
        envelope = user_envelope("user.created").to_dict()
        task_id = f"{envelope['event_id']}:{TASK}"

        def start(name: str) -> ManagedProcess:
            worker = ManagedProcess(name, command, log_dir=workdir / "log", env=env, cwd=BASE_DIR).start()
            workers.append(worker)
            wait_until(lambda: _in_log(worker, " ready."), timeout=60, what=f"{label} {name} ready")
            return worker

        lock = sqlite3.connect(workdir / USERS_SQLITE, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        first = start("worker-1")
        client.send_task(TASK, args=[envelope], task_id=task_id, queue="events")
        broker = redis.Redis.from_url(server.url)
        wait_until(lambda: _reserved(broker, unacked_key, task_id), timeout=60, what="task reserved")
        first.signal(signal.SIGKILL)
        first.process.wait(10)
        killed_at = time.monotonic()
        lock.execute("ROLLBACK")
        lock.close()
        second = start("worker-2")
        try:
            wait_until(lambda: _in_log(second, f"[{task_id}] succeeded"), timeout=KILL_WAIT, what="re-apply")
        except TimeoutError:
            log(f"worker_kill: [{label}] not applied again within {KILL_WAIT:.0f}s of the kill")
            return None
        seconds = time.monotonic() - killed_at
        log(f"worker_kill: [{label}] applied by another worker {seconds:.1f}s after kill -9")
        return seconds
    finally:
        for worker in workers:
            worker.stop()
        server.stop()


def main() -> int:
    value = kill_and_reapply(ROLE_WORKER, "events role", EVENTS.transport_options()["unacked_key"])
    if value is None:
        raise SystemExit("the events role did not apply the killed worker's event again")
    baseline = kill_and_reapply(ROLELESS_WORKER, "worker without a role", kombu_redis.Channel.unacked_key)
    emit(
        result(
            "worker_kill",
            unit="s",
            value=value,
            baseline=KILL_WAIT if baseline is None else baseline,
            ratio=(KILL_WAIT if baseline is None else baseline) / value,
            params={
                "worker": " ".join(["manage.py", *ROLE_WORKER[2:]]),
                "baseline_worker": " ".join(["celery", *ROLELESS_WORKER[1:]]),
                "baseline_applied": baseline is not None,
                "kill_wait_seconds": KILL_WAIT,
                # What `value` should be: the role's visibility timeout, plus up to one restore sweep.
                "visibility_timeout_s": EVENTS.visibility_timeout,
                "restore_sweep_s": RESTORE_SWEEP_SECONDS,
                "database": "sqlite",
            },
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
