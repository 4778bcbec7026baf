"""CPU per applied event of the events worker, by stage: `python -m bench._profile_apply [--events N]`.

Not a benchmark (no baseline): the tool behind the worker's part of `e2e` and `worker_apply`. A
throw-away Redis and PostgreSQL database (BENCH_POSTGRES_URL, as bench/worker_apply), N
`user.updated` tasks queued as the bridge queues them, then the users service's own Celery app
drains them in this process on the solo pool (every step of a task in one thread, so that cProfile
sees all of it). It prints the CPU per event without the profiler, then, profiled, the cumulative
time per event of each stage (Celery's consume and ack, the signal handlers, logging, metrics,
the envelope check, each statement, the commit, ...). Profiled times are inflated alike: compare
them with each other and with the unprofiled total.
"""

from __future__ import annotations

import builtins
import contextlib
import cProfile
import functools
import io
import os
import pstats
import re
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench._databases import BenchDatabases
from devstack.processes import free_port
from devstack.redis import RedisServer

EVENTS = 1500
WARMUP = 200
USERS = 400

#: Stage -> a regular expression over "file:function": its cumulative time per event (stages may nest).
STAGES = (
    ("task run, all of it (celery trace)", r"celery/app/trace.py:trace_task$"),
    (
        "  signal task_prerun (handlers)",
        r"users_service/celery.py:_(recycle_database_connections|bind_task_context)$",
    ),
    ("    of which close_old_connections", r"django/db/__init__.py:close_old_connections$"),
    ("    of which bind task context", r"users_service/celery.py:_bind_task_context$"),
    (
        "  signal task_postrun (handlers)",
        r"users_service/celery.py:_(release_database_connections|unbind_task_context)$",
    ),
    (
        "  connection health check (SELECT 1)",
        r"django/db/backends/base/base.py:close_if_health_check_failed$",
    ),
    ("  signal task_success (queued->applied metric)", r"users_service/ops/signals.py:observe_applied$"),
    ("  task body (directory.apply_user_event)", r"users_service/directory/tasks.py:apply_user_event$"),
    ("    service apply_user_event", r"users_service/directory/services.py:apply_user_event$"),
    (
        "      envelope decode + check",
        r"events/envelope.py:from_dict$",
    ),
    ("      transaction begin (atomic enter)", r"django/db/transaction.py:__enter__$"),
    ("      inbox insert", r"apply_statements.py:insert_unless_exists$"),
    ("      read-model upsert", r"apply_statements.py:upsert_if_newer$"),
    ("      inbox + upsert in one statement", r"apply_statements.py:upsert_once$"),
    ("      transaction commit (atomic exit)", r"django/db/transaction.py:__exit__$"),
    ("    metrics (prometheus counter/histogram)", r"prometheus_client/metrics.py:(inc|observe|labels)$"),
    ("  ack (late, after the task)", r"kombu/message.py:ack$"),
    (
        "  result backend (store_result / mark_as_done)",
        r"celery/backends/base.py:(mark_as_done|store_result)$",
    ),
    ("logging: every record (stdlib _log)", r"logging/__init__.py:_log$"),
    ("  of which formatting + write (handle)", r"logging/__init__.py:handle$"),
    ("consume: message -> request (strategy)", r"celery/worker/strategy.py:task_message_handler$"),
    ("consume: redis BRPOP read + parse", r"kombu/transport/redis.py:_brpop_read$"),
    ("tracing (trace context)", r"events/tracecontext.py:"),
)


def _events(count: int) -> int:
    if "--events" in sys.argv:
        return int(sys.argv[sys.argv.index("--events") + 1])
    return count


def drain(count: int, *, profiler: cProfile.Profile | None = None) -> float:
    """Queue `count` events and drain them on a solo-pool worker of the service's app in this
    process; CPU seconds of this process while it drained (start-up included, a few ms)."""
    from celery import signals
    from celery.worker import state

    # Imported here, once `service_env` has set the database: importing bench._celery_workers reads
    # the users service's settings module, and its DATABASES then stays SQLite for this process.
    from bench._celery_workers import solo_worker
    from bench.worker_apply import events, publish
    from users_service.celery import app

    publish(events(count, USERS))
    done = [0]

    def _count(**kwargs: Any) -> None:
        done[0] += 1
        if done[0] == count:
            os.kill(os.getpid(), signal.SIGTERM)

    signals.task_postrun.connect(_count, weak=False)
    state.should_stop = state.should_terminate = None  # the last drain's warm shutdown
    worker = solo_worker(app, "events")
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    try:
        with contextlib.suppress(SystemExit):  # the warm shutdown the last task asked for
            worker.start()
    finally:
        if profiler is not None:
            profiler.disable()
        signals.task_postrun.disconnect(_count)
    return time.process_time() - started


def stages(stats: pstats.Stats, count: int) -> list[tuple[str, float, int]]:
    """(stage, cumulative microseconds per event, calls per event x 100) for each stage."""
    rows = []
    entries = stats.stats.items()  # type: ignore[attr-defined]
    for stage, pattern in STAGES:
        cumulative, calls = 0.0, 0
        for (filename, _line, function), (_cc, nc, _tt, ct, _callers) in entries:
            if re.search(pattern, f"{filename}:{function}"):
                cumulative += ct
                calls += nc
        rows.append((stage, 1e6 * cumulative / count, round(100 * calls / count)))
    return rows


def main() -> None:
    from bench.worker_apply import service_env

    count = _events(EVENTS)
    databases = BenchDatabases()
    server = RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="bench-redis-"))).start()
    try:
        os.environ.setdefault("LOG_LEVEL", "INFO")  # the service's default: one line per task
        service_env(databases.url("users"), server.url)
        drain(WARMUP)
        plain = drain(count)
        # CPU, not wall time: the commit's wait on the disk is no cost of the worker's.
        profiler = cProfile.Profile(time.process_time)
        profiled = drain(count, profiler=profiler)
    finally:
        from django.db import connections

        connections.close_all()
        server.stop()
        databases.drop()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    # Written to the real stdout: Celery's worker redirects sys.stdout to its logger.
    say = functools.partial(builtins.print, file=sys.__stdout__, flush=True)
    say(f"solo pool, {count} events: {1000 * plain / count:.3f} ms CPU per event unprofiled")
    say(f"profiled: {1000 * profiled / count:.3f} ms CPU per event; cumulative CPU microseconds per event:")
    for stage, microseconds, calls in stages(stats, count):
        say(f"  {stage:<52} {microseconds:8.1f}   calls/event {calls / 100:.2f}")
    if "--save" in sys.argv:
        stats.dump_stats(sys.argv[sys.argv.index("--save") + 1])
    if "--list" in sys.argv:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(40)
        say(out.getvalue())


if __name__ == "__main__":
    main()
