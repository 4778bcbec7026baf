"""task_publish: the bridge's pipelined publisher vs a naive `send_task`/`apply_async` loop, on a real Redis.

The bridge publishes one SQS batch (10 events -> 10 tasks) per Redis pipeline;
the naive loop makes one broker round trip per task. Same tasks, same Redis,
rounds alternate.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import redis
from celery import Celery

from bench._bridge_setup import user_updated
from bench.common import emit, log, median, result
from devstack.processes import free_port
from devstack.redis import RedisServer
from events.bridge import TaskMessage, task_id_for
from events.bridge.celery_publisher import CeleryTaskPublisher

TASKS = int(os.environ.get("BENCH_TASKS", "5000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
BATCH = 10  # one SQS receive
TASK = "directory.apply_user_event"


def celery(broker_url: str) -> Celery:
    app = Celery("bench", broker=broker_url)
    app.conf.update(task_serializer="json", accept_content=["json"])
    return app


def naive(app: Celery, tasks: list[TaskMessage]) -> float:
    started = time.perf_counter()
    for task in tasks:
        app.send_task(task.task, args=[task.envelope], task_id=task.task_id, queue=task.queue)
    return time.perf_counter() - started


def pipelined(publisher: CeleryTaskPublisher, tasks: list[TaskMessage], batch: int) -> float:
    started = time.perf_counter()
    for start in range(0, len(tasks), batch):
        publisher.publish(tasks[start : start + batch])
    return time.perf_counter() - started


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    server = RedisServer(free_port(), workdir).start()
    broker = f"{server.url}/0"
    connection = redis.Redis.from_url(broker)
    try:
        envelopes = [user_updated().to_dict() for _ in range(TASKS)]
        tasks = [TaskMessage(task_id_for(e["event_id"], TASK), TASK, "events", e) for e in envelopes]
        app = celery(broker)
        publisher = CeleryTaskPublisher(celery(broker))
        if not publisher.batch_publishing():
            raise RuntimeError("kombu fell back to one-by-one publishing")
        naive_rates, batch_rates, batch20_rates = [], [], []
        for round_ in range(ROUNDS):
            for rates, run in (
                (naive_rates, lambda: naive(app, tasks)),
                (batch_rates, lambda: pipelined(publisher, tasks, BATCH)),
                (batch20_rates, lambda: pipelined(publisher, tasks, 2 * BATCH)),
            ):
                connection.flushdb()
                rates.append(TASKS / run())
                if connection.llen("events") != TASKS:
                    raise RuntimeError(f"{connection.llen('events')} tasks in Redis, expected {TASKS}")
            log(
                f"round {round_ + 1}: naive {naive_rates[-1]:.0f}/s, pipelined(10) {batch_rates[-1]:.0f}/s, "
                f"pipelined(20) {batch20_rates[-1]:.0f}/s"
            )
        emit(
            result(
                "task_publish",
                unit="tasks/s",
                value=median(batch_rates),
                baseline=median(naive_rates),
                params={
                    "tasks_per_round": TASKS,
                    "rounds": ROUNDS,
                    "batch": BATCH,
                    "pipelined_rates": [round(x, 1) for x in batch_rates],
                    "naive_rates": [round(x, 1) for x in naive_rates],
                    # Per round, so that load drifting between rounds does not skew the ratio.
                    "round_ratios": [round(b / n, 2) for b, n in zip(batch_rates, naive_rates, strict=True)],
                    "pipelined_batch20_median": round(median(batch20_rates), 1),
                    "baseline_is": "app.send_task per task (default producer pool, one round trip each)",
                    "broker": "redis-server on a free port, no persistence",
                },
            )
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
