"""Events applied per second by a real users-service worker, inbox and version check on, on PostgreSQL.

`BENCH_POSTGRES_URL` names a PostgreSQL server the bench may create a database on (default
`postgres://postgres@127.0.0.1:5432/postgres`); it creates a uniquely named database, migrates
it, and drops it at the end. Cheap `user.updated` events (400 users, versions 1..N, so most are
applied and some arrive after a newer one and are stale) are queued on a throw-away Redis; then
one worker (threads pool, the Procfile's command) drains them with the service's own settings,
result backend included. `value` = events/s between the first and the last inbox row;
`baseline` = the same service function called in a loop in one process (no Celery), on the
same database: `ratio` is what the worker adds or costs against that. The JSON also gives the
CPU milliseconds per event of the worker process and of its PostgreSQL backends (/proc), read
after a warm-up batch, so that start-up is not counted.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._databases import BenchDatabases
from bench._events import user_envelope
from bench._pipeline import users_worker_command
from bench.common import CpuMeter, emit, log, result
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import BASE_DIR
from events import types

EVENTS = 3000
WARMUP_EVENTS = 100
BASELINE_EVENTS = 600
USERS = 400
CONCURRENCY = int(os.environ.get("WORKER_APPLY_CONCURRENCY", "8"))
POOL = os.environ.get("WORKER_APPLY_POOL", "threads")
TASK = "directory.apply_user_event"


def events(count: int, users: int) -> list[dict]:
    """`user.updated` of `users` users in turn, versions rising: most apply, some come after a newer one."""
    ids = [str(uuid.uuid4()) for _ in range(users)]
    return [
        user_envelope(types.USER_UPDATED, user_id=ids[i % users], version=i // users + 1, last_name=f"n{i}")
        .validate()
        .to_dict()
        for i in range(count)
    ]


def service_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The users service's settings on this run's database and Redis, for the worker and this process."""
    env = dict(
        os.environ,
        USERS_DATABASE_URL=database_url,
        CELERY_BROKER_URL=f"{redis_url}/0",
        CACHE_REDIS_URL=f"{redis_url}/1",
        VAR_DIR=tempfile.mkdtemp(prefix="bench-var-"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    subprocess.run(
        [sys.executable, "manage.py", "users", "migrate", "--noinput", "-v0"],
        env=env,
        cwd=BASE_DIR,
        check=True,
    )
    os.environ.update({k: env[k] for k in ("USERS_DATABASE_URL", "CELERY_BROKER_URL", "VAR_DIR")})
    os.environ["DJANGO_SETTINGS_MODULE"] = "users_service.settings"
    import django

    django.setup()
    return env


def direct_rate() -> float:
    """The baseline: the service function in a loop, in this process, no Celery."""
    from users_service.directory.services import apply_user_event

    direct = events(BASELINE_EVENTS, USERS)
    started = time.perf_counter()
    for envelope in direct:
        apply_user_event(envelope=envelope, task_name=TASK)
    return BASELINE_EVENTS / (time.perf_counter() - started)


def publish(envelopes: list[dict]) -> None:
    """As the bridge does: pipelined batches of tasks with their deterministic ids."""
    from events.bridge import TaskMessage, task_id_for
    from events.bridge.celery_publisher import CeleryTaskPublisher
    from users_service.celery import app

    publisher = CeleryTaskPublisher(app)
    for start in range(0, len(envelopes), 500):
        publisher.publish(
            [
                TaskMessage(task_id_for(e["event_id"], TASK), TASK, "events", e)
                for e in envelopes[start : start + 500]
            ]
        )


def inbox_holds(count: int, worker: ManagedProcess) -> Callable[[], bool]:
    # A plain count of the inbox: cheap, so that the bench's polling does not cost what it measures.
    from users_service.directory.models import InboxEntry

    def check() -> bool:
        if not worker.running:
            raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
        return InboxEntry.objects.count() >= count

    return check


def worker_run(worker: ManagedProcess, database: str) -> dict[str, Any]:
    """After a warm-up batch, EVENTS queued at once: the worker's rate from its first to its last inbox row,
    and the CPU per event of the worker and of its PostgreSQL backends."""
    from django.db import connections

    from users_service.directory.models import InboxEntry

    publish(events(WARMUP_EVENTS, WARMUP_EVENTS))
    wait_until(inbox_holds(BASELINE_EVENTS + WARMUP_EVENTS, worker), timeout=120, what="warm-up")
    queued = events(EVENTS, USERS)
    own_backend = connections["default"].connection.info.backend_pid
    meter = CpuMeter({"worker": worker.process.pid}, {"postgresql": database}, [own_backend])
    before = meter.read()
    publish(queued)
    done = inbox_holds(BASELINE_EVENTS + WARMUP_EVENTS + EVENTS, worker)
    wait_until(done, timeout=180, what="worker", interval=0.5)
    cpu = CpuMeter.per_event(before, meter.read(), EVENTS)
    rows = InboxEntry.objects.filter(event_id__in=[e["event_id"] for e in queued])
    first = rows.order_by("processed_at").first().processed_at
    last = rows.order_by("-processed_at").first().processed_at
    stale = rows.filter(outcome="stale").count()
    connections.close_all()
    return {
        "rate": (EVENTS - 1) / (last - first).total_seconds(),
        "stale": stale,
        "cpu_ms_per_event": {"worker": cpu["worker"], "postgresql": cpu["postgresql"]},
    }


def main() -> None:
    databases = BenchDatabases()
    server = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="bench-redis-"))).start()
    worker = None
    try:
        env = service_env(databases.url("users"), server.url)
        baseline = direct_rate()
        log(f"direct: {baseline:.0f} events/s")
        command = users_worker_command(
            pool=POOL, concurrency=CONCURRENCY, queues="events", loglevel="WARNING"
        )
        worker = ManagedProcess(
            "worker", command, log_dir=Path(env["VAR_DIR"]), env=env, cwd=BASE_DIR
        ).start()
        run = worker_run(worker, databases.name("users"))
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        databases.drop()
    log(f"worker: {run['rate']:.0f} events/s ({run['stale']} stale), direct {baseline:.0f}/s")
    emit(
        result(
            "worker_apply",
            unit="events/s",
            value=run["rate"],
            baseline=baseline,
            params={
                "events": EVENTS,
                "users": USERS,
                "pool": POOL,
                "concurrency": CONCURRENCY,
                "database": "postgresql",
                "result_backend": "django-db (event task: failures only)",
                "baseline": "service function in a loop, one process, no Celery",
            },
            stale=run["stale"],
            cpu_ms_per_event=run["cpu_ms_per_event"],
        )
    )


if __name__ == "__main__":
    main()
