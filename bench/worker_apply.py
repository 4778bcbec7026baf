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

import psycopg

from bench.common import cpu_seconds, emit, log, postgres_cpu_seconds, result
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer

BASE_DIR = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
EVENTS = 3000
WARMUP_EVENTS = 100
BASELINE_EVENTS = 600
USERS = 400
CONCURRENCY = int(os.environ.get("WORKER_APPLY_CONCURRENCY", "8"))
POOL = os.environ.get("WORKER_APPLY_POOL", "threads")


def database_url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


def events(count: int, users: int) -> list[dict]:
    from events import types
    from tests.users_service.events import user_state_event

    ids = [str(uuid.uuid4()) for _ in range(users)]
    return [
        user_state_event(ids[i % users], i // users + 1, types.USER_UPDATED, last_name=f"n{i}")
        for i in range(count)
    ]


def main() -> None:
    name = f"bench_worker_apply_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    server = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="bench-redis-"))).start()
    broker_url = f"{server.url}/0"
    env = dict(
        os.environ,
        USERS_DATABASE_URL=database_url(name),
        CELERY_BROKER_URL=broker_url,
        METRICS_REDIS_URL=broker_url,
        CACHE_REDIS_URL=f"{server.url}/1",
        VAR_DIR=tempfile.mkdtemp(prefix="bench-var-"),
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    admin(f'CREATE DATABASE "{name}"')
    worker = None
    try:
        subprocess.run(
            [sys.executable, "manage.py", "users", "migrate", "--noinput", "-v0"],
            env=env,
            cwd=BASE_DIR,
            check=True,
        )
        os.environ.update(
            {k: env[k] for k in ("USERS_DATABASE_URL", "CELERY_BROKER_URL", "METRICS_REDIS_URL")}
        )
        os.environ["DJANGO_SETTINGS_MODULE"] = "users_service.settings"
        import django

        django.setup()
        from django.db import connections

        from events.bridge import TaskMessage, task_id_for
        from events.bridge.celery_publisher import CeleryTaskPublisher
        from users_service.celery import app
        from users_service.directory.models import InboxEntry
        from users_service.directory.services import apply_user_event

        task = "directory.apply_user_event"
        direct = events(BASELINE_EVENTS, USERS)
        started = time.perf_counter()
        for envelope in direct:
            apply_user_event(envelope=envelope, task_name=task)
        baseline = BASELINE_EVENTS / (time.perf_counter() - started)
        log(f"direct: {baseline:.0f} events/s")

        publisher = CeleryTaskPublisher(app)

        def publish(envelopes: list[dict]) -> None:
            for start in range(0, len(envelopes), 500):
                publisher.publish(
                    [
                        TaskMessage(task_id_for(e["event_id"], task), task, "events", e)
                        for e in envelopes[start : start + 500]
                    ]
                )

        command = [str(Path(sys.executable).parent / "celery"), "-A", "users_service", "worker"]
        command += ["--pool", POOL, "--concurrency", str(CONCURRENCY), "--queues", "events"]
        command += ["--without-gossip", "--without-mingle", "--loglevel", "WARNING"]
        worker = ManagedProcess(
            "worker", command, log_dir=Path(env["VAR_DIR"]), env=env, cwd=BASE_DIR
        ).start()

        def applied(count: int) -> Callable[[], bool]:
            # A plain count of the inbox: cheap, so that the bench's polling does not cost what it measures.
            def check() -> bool:
                if not worker.running:
                    raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
                return InboxEntry.objects.count() >= count

            return check

        warmup = events(WARMUP_EVENTS, WARMUP_EVENTS)
        publish(warmup)
        wait_until(applied(BASELINE_EVENTS + WARMUP_EVENTS), timeout=120, what="warm-up")

        queued = events(EVENTS, USERS)
        worker_ids = [e["event_id"] for e in queued]
        own_backend = connections["default"].connection.info.backend_pid
        worker_cpu = cpu_seconds(worker.process.pid)
        database_cpu = postgres_cpu_seconds(name, exclude=[own_backend])
        publish(queued)
        wait_until(
            applied(BASELINE_EVENTS + WARMUP_EVENTS + EVENTS), timeout=180, what="worker", interval=0.5
        )
        worker_cpu = cpu_seconds(worker.process.pid) - worker_cpu
        database_cpu = postgres_cpu_seconds(name, exclude=[own_backend]) - database_cpu
        rows = InboxEntry.objects.filter(event_id__in=worker_ids)
        first = rows.order_by("processed_at").first().processed_at
        last = rows.order_by("-processed_at").first().processed_at
        stale = rows.filter(outcome="stale").count()
        value = (EVENTS - 1) / (last - first).total_seconds()
        connections.close_all()
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    log(f"worker: {value:.0f} events/s ({stale} stale), direct {baseline:.0f}/s")
    emit(
        result(
            "worker_apply",
            unit="events/s",
            value=value,
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
            stale=stale,
            cpu_ms_per_event={
                "worker": round(1000 * worker_cpu / EVENTS, 2),
                "postgresql": round(1000 * database_cpu / EVENTS, 2),
            },
        )
    )


if __name__ == "__main__":
    main()
