"""CPU per task of the benchmark worker (bench/_celery_workers.py, the users service's worker set-up):
`python -m bench._profile_worker [--prof | --plain] [--tasks N]`.

Not a benchmark (no baseline): the tool behind tasks_1000's cost list. Two readings on a
throw-away Redis, each over N no-op tasks queued before the worker starts:

- `cpu_ms_per_task`: a real worker process (threads pool, concurrency 50, as tasks_1000 runs it)
  drains them; its CPU (/proc, every thread) after a warm-up batch, divided by N;
- `--plain`: that reading for the service's worker and a plain Celery worker, alternating, twice;
- `--prof`: the same worker set-up in this process on the solo pool (every step of a task in one
  thread, so that cProfile sees all of it): own time per task summed by area (logging, the service's
  signal handlers, Celery, kombu, redis-py, waiting), then the per-task steps by cumulative time.
  Profiled wall time: every figure is inflated alike, compare them with each other.
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import os
import pstats
import re
import signal
import sys
import time
from typing import Any

from bench._celery_workers import (
    publish,
    reset_times,
    solo_worker,
    start_redis,
    start_worker,
    task_times,
    wait,
)
from bench.common import cpu_seconds, log
from devstack.processes import wait_until

TASKS = 2000
WARMUP = 200
#: The per-task steps the listing shows (a regular expression over "file:line(function)").
PARTS = (
    r"logging/__init__.py.*\((_log|handle|emit|format)\)|structlog.*\((__call__|format|_proxy_to_logger)\)"
    r"|dispatch/signal.py.*\(send\)|celery\.py|task_context|tracecontext|ops/signals|ops/metrics|prometheus"
    r"|trace.py.*\((trace_task|fast_trace_task)\)|strategy.py.*task_message_handler|_celery_workers"
    r"|redis.py.*\((ack|append|_brpop_read)\)|close_old_connections|saferepr|info\)"
)


def _tasks(count: int) -> int:
    if "--tasks" in sys.argv:
        return int(sys.argv[sys.argv.index("--tasks") + 1])
    return count


def cpu_per_task(broker_url: str, tasks: int, *, plain: bool = False) -> float:
    """Milliseconds of CPU the worker process spends per no-op task (threads pool, concurrency 50);
    `plain`: a plain Celery worker of the same app and delivery settings."""
    worker = start_worker(broker_url, concurrency=50, plain=plain)
    try:
        publish([wait.s(0, "warm") for _ in range(WARMUP)])
        wait_until(lambda: len(task_times(broker_url)) >= WARMUP, timeout=60, what="warm-up")
        reset_times(broker_url)
        assert worker.process is not None
        before = cpu_seconds(worker.process.pid)
        publish([wait.s(0, "t") for _ in range(tasks)])
        wait_until(lambda: len(task_times(broker_url)) >= tasks, timeout=120, what="tasks")
        return 1000 * (cpu_seconds(worker.process.pid) - before) / tasks
    finally:
        worker.stop()


def profile_in_process(broker_url: str, tasks: int) -> str:
    """A cProfile listing of a solo-pool worker of the same app draining `tasks` no-op tasks."""
    from celery import signals

    from bench._celery_workers import QUEUE, app

    app.conf.broker_url = broker_url
    reset_times(broker_url)
    publish([wait.s(0, "t") for _ in range(tasks)])
    done = [0]

    @signals.task_postrun.connect(weak=False)
    def _count(**kwargs: Any) -> None:
        done[0] += 1
        if done[0] == tasks:
            os.kill(os.getpid(), signal.SIGTERM)

    worker = solo_worker(app, QUEUE)
    profiler = cProfile.Profile()
    started = time.process_time()
    profiler.enable()
    with contextlib.suppress(SystemExit):  # the warm shutdown the last task asked for
        worker.start()
    profiler.disable()
    cpu = time.process_time() - started
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(PARTS)
    areas = "\n".join(f"  {area:<28} {us:8.1f}" for area, us in by_area(stats, tasks).items())
    return (
        f"solo pool: {1000 * cpu / tasks:.3f} ms CPU per task (start-up included)\n"
        f"CPU microseconds per task by area (profiled, so inflated alike):\n{areas}\n{out.getvalue()}"
    )


#: Where a function's own time goes, by the first pattern its "file:function" matches.
AREAS = (
    ("waiting (poll, recv, sleep, locks)", r"<(method '(poll|recv|acquire)'|built-in method time.sleep)"),
    ("socket send", r"<method '(sendall|send)'"),
    ("logging: stdlib", r"/logging/"),
    ("logging: structlog + json", r"/structlog/|/json/"),
    ("service signal handlers", r"/users_service/|/events/|/shared_settings/|/prometheus_client/|/django/"),
    ("the benchmark's task", r"/bench/"),
    ("redis-py", r"/redis/"),
    ("kombu + vine", r"/kombu/|/vine/"),
    ("celery + billiard", r"/celery/|/billiard/"),
    ("other", r""),
)


def by_area(stats: pstats.Stats, tasks: int) -> dict[str, float]:
    """Microseconds of own time per task, summed by area."""
    totals = dict.fromkeys((area for area, _ in AREAS), 0.0)
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{function}"
        for area, pattern in AREAS:
            if re.search(pattern, where):
                totals[area] += tottime
                break
    return {area: 1e6 * seconds / tasks for area, seconds in totals.items()}


def main() -> None:
    server = start_redis()
    broker_url = f"{server.url}/0"
    try:
        if "--prof" in sys.argv:
            print(profile_in_process(broker_url, _tasks(TASKS)))
        elif "--plain" in sys.argv:
            # Side by side, alternating, so that the machine's load falls on both alike.
            tasks = _tasks(TASKS)
            for _ in range(2):
                for plain in (False, True):
                    who = "plain Celery" if plain else "service"
                    log(f"{who}: {cpu_per_task(broker_url, tasks, plain=plain):.3f} ms CPU per no-op task")
        else:
            tasks = _tasks(TASKS)
            log(f"worker: {cpu_per_task(broker_url, tasks):.3f} ms CPU per task over {tasks} no-op tasks")
    finally:
        server.stop()


if __name__ == "__main__":
    main()
