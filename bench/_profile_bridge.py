"""CPU (or elapsed time) per event of one bridge receive loop, by stage:
`python -m bench._profile_bridge [--events N] [--wall]`.

Not a benchmark (no baseline): the tool behind bridge_drain's cost list. One receive loop runs in
this thread against LocalStack (natively) and Redis of its own, with the hand-off record on the
users database (PostgreSQL when BENCH_POSTGRES_URL answers, else SQLite), as bridge_drain runs
it. Two readings over N SNS-wrapped events each:

- the loop's thread CPU per event, unprofiled;
- the same under cProfile timed by thread CPU: each stage's CPU per event (a stage is the
  cumulative time of the functions named in STAGES), then the listing by cumulative time.
  Profiling inflates every figure alike: compare the stages with each other.

`--wall` times the profile by the wall clock instead: each stage's elapsed time per event, waits
included (the SQS, Redis and database round trips, and on a busy machine each process's wait for a
core at every hop).
"""

from __future__ import annotations

import cProfile
import functools
import io
import os
import pstats
import sys
import threading
import time
from typing import Any

from bench._bridge_setup import Rig, fill, rig, sns_wrapped, user_updated
from bench._databases import BenchDatabases
from bench.bridge_drain import handoff_log
from bench.common import log

EVENTS = 2000

#: (stage, [(file suffix, function name), ...]): a stage's CPU is the cumulative time of these
#: functions (none of them calls another of the same stage).
STAGES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("receive: boto3 call (sign, HTTP, parse)", (("events/bridge/sqs_batch.py", "receive"),)),
    ("receive: SqsMessage.from_sqs", (("events/bridge/received.py", "from_sqs"),)),
    (
        "stats: count_received/add/batch_done",
        (
            ("events/bridge/stats.py", "count_received"),
            ("events/bridge/stats.py", "add"),
            ("events/bridge/stats.py", "batch_done"),
            ("events/bridge/stats.py", "handed_off"),
        ),
    ),
    ("classify (all of it)", (("events/bridge/fates.py", "classify"),)),
    ("  intake: body JSON parse (SNS wrapper + envelope)", (("events/envelope.py", "parse_json"),)),
    ("  intake: schema validation", (("events/validation.py", "validate_envelope"),)),
    ("  route: tasks_for (envelope copy, task ids, trace)", (("events/bridge/routing.py", "tasks_for"),)),
    ("poison limit", (("events/bridge/poison_limit.py", "admit"),)),
    ("publish (all of it)", (("events/bridge/celery_publisher.py", "publish"),)),
    ("  publish: build task message", (("celery/app/amqp.py", "as_task_v2"),)),
    ("  publish: kombu Producer.publish (serialize, buffer)", (("kombu/messaging.py", "Producer.publish"),)),
    (
        "  publish: open the pipeline (kombu built a redis client per batch)",
        (("kombu/transport/redis.py", "PublishBatch.__init__"),),
    ),
    ("  publish: pipeline flush to Redis", (("kombu/transport/redis.py", "PublishBatch.flush"),)),
    ("  publish: celery signals", (("celery/utils/dispatch/signal.py", "send"),)),
    ("hand-off log lines", (("logging/__init__.py", "info"),)),
    ("hand-off record (build + insert)", (("events/bridge/batch.py", "_record"),)),
    ("  of which the database insert", (("users_service/bridge/handoff.py", "record"),)),
    ("dead-letter (none expected)", (("events/bridge/dead_letters.py", "dead_letter"),)),
    ("delete: delete_message_batch", (("events/bridge/sqs_batch.py", "delete"),)),
    ("heartbeat watch", (("events/bridge/heartbeat.py", "watch"),)),
    ("loop turn (liveness, reset_queries)", (("bench/_profile_bridge.py", "turn"),)),
)


def _events(default: int) -> int:
    if "--events" in sys.argv:
        return int(sys.argv[sys.argv.index("--events") + 1])
    return int(os.environ.get("BENCH_EVENTS", default))


def drain_in_this_thread(r: Rig, count: int, handoffs: Any, profiler: cProfile.Profile | None) -> float:
    """Run one receive loop in this thread until `count` messages are deleted; its thread CPU seconds."""
    from django.db import reset_queries

    bridge = r.bridge(r.sqs(), handoff_log=handoffs)
    stop = threading.Event()

    def turn() -> None:
        reset_queries()  # as run_bridge's loop turn does (Django keeps queries while DEBUG is on)
        if bridge.stats.snapshot()["deleted"] >= count:
            stop.set()

    started = time.thread_time()
    if profiler is not None:
        profiler.enable()
    bridge.run_loop(stop, on_turn=turn)
    if profiler is not None:
        profiler.disable()
    cpu = time.thread_time() - started
    bridge.publisher.close()
    return cpu


def _is(filename: str, line: int, function: str, suffix: str, name: str) -> bool:
    """`name` may be `Class.function`: cProfile names no class, so the class is read from the file."""
    cls, _, name = name.rpartition(".")
    if function != name or not filename.endswith(suffix):
        return False
    return not cls or _class_at(filename, line) == cls


@functools.cache
def _class_at(filename: str, line: int) -> str | None:
    """The top-level class whose body holds `line` of `filename`."""
    current = None
    with open(filename, encoding="utf-8") as source:
        for number, text in enumerate(source, start=1):
            if number > line:
                break
            if text.startswith("class "):
                current = text[6:].split("(")[0].split(":")[0].strip()
            elif text[:1] not in ("", " ", "\n", "#", ")", "@"):
                current = None
    return current


def stage_table(stats: pstats.Stats, events: int) -> str:
    rows = []
    table = stats.stats  # type: ignore[attr-defined]
    for stage, functions in STAGES:
        seconds = 0.0
        for (filename, line, function), (_cc, _nc, _tt, cumulative, _callers) in table.items():
            if any(_is(filename, line, function, suffix, name) for suffix, name in functions):
                seconds += cumulative
        rows.append(f"  {stage:<56} {1e6 * seconds / events:8.1f}")
    return "\n".join(rows)


def main() -> None:
    events = _events(EVENTS)
    databases = BenchDatabases.postgres_or_sqlite()
    try:
        with rig() as r:
            handoffs = handoff_log(databases)
            warm = [sns_wrapped(r.top, user_updated()) for _ in range(200)]
            fill(r, warm)
            drain_in_this_thread(r, len(warm), handoffs, None)
            fill(r, [sns_wrapped(r.top, user_updated()) for _ in range(events)])
            r.flush_broker()
            started = time.perf_counter()
            cpu = drain_in_this_thread(r, events, handoffs, None)
            elapsed = time.perf_counter() - started
            log(
                f"one loop, unprofiled: {1000 * cpu / events:.3f} ms thread CPU and "
                f"{1000 * elapsed / events:.3f} ms elapsed per event ({databases.engine})"
            )
            fill(r, [sns_wrapped(r.top, user_updated()) for _ in range(events)])
            r.flush_broker()
            wall = "--wall" in sys.argv
            profiler = cProfile.Profile(time.perf_counter if wall else time.thread_time)
            cpu = drain_in_this_thread(r, events, handoffs, profiler)
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
            stats.print_stats(40)
            print(f"profiled: {1000 * cpu / events:.3f} ms thread CPU per event")
            what = "Elapsed" if wall else "CPU"
            print(f"{what} microseconds per event by stage (profiled, so inflated alike):")
            print(stage_table(stats, events))
            print(out.getvalue())
    finally:
        databases.drop()


if __name__ == "__main__":
    main()
