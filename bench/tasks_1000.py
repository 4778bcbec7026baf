"""1,000 tasks that each wait 0.1 s on I/O, on one worker with a threads pool at concurrency 50.

Ideal: 1000 x 0.1 s / 50 = 2 s. `value` is the measured makespan (first task start to last task
end, taken from the tasks' own timestamps, so worker start-up is left out); `baseline` the ideal;
`ratio` ideal/measured (1.0 is perfect). Publishing runs while the worker drains.

Beside it, in the same load, the same app and delivery settings on a plain Celery worker (no
Django, structured logging, metrics or signal handlers of the service): `over_plain_celery` is
what the service's worker set-up adds, a figure a busy machine moves less than the seconds.
"""

from __future__ import annotations

import time

from bench._celery_workers import publish, reset_times, start_redis, start_worker, task_times, wait
from bench.common import emit, log, result
from devstack.processes import wait_until

TASKS = 1000
SECONDS = 0.1
CONCURRENCY = 50


def run(broker_url: str, processes: int, *, plain: bool = False) -> tuple[float, float, float]:
    """(makespan, seconds from first publish to last end, publish seconds) with CONCURRENCY threads
    spread over `processes` worker processes (`plain`: plain Celery ones)."""
    workers = []
    try:
        for _ in range(processes):
            workers.append(start_worker(broker_url, concurrency=CONCURRENCY // processes, plain=plain))
        reset_times(broker_url)
        published_at = time.time()
        publish([wait.s(SECONDS, "t") for _ in range(TASKS)])
        publish_seconds = time.time() - published_at
        wait_until(lambda: len(task_times(broker_url)) >= TASKS, timeout=60, what="1000 tasks")
        times = task_times(broker_url)
    finally:
        for worker in workers:
            worker.stop()
    makespan = max(t[2] for t in times) - min(t[1] for t in times)
    return makespan, max(t[2] for t in times) - published_at, publish_seconds


def main() -> None:
    server = start_redis()
    broker_url = f"{server.url}/0"
    try:
        makespan, since_publish, publish_seconds = run(broker_url, 1)
        # The same 50 threads as two processes of 25: one Python process has one GIL and one
        # consumer loop, which is what the single-worker figure runs into on a busy machine.
        two_makespan, _, _ = run(broker_url, 2)
        plain_makespan, _, _ = run(broker_url, 1, plain=True)
    finally:
        server.stop()
    ideal = TASKS * SECONDS / CONCURRENCY
    log(
        f"makespan {makespan:.2f}s (2x25: {two_makespan:.2f}s, plain Celery: {plain_makespan:.2f}s), "
        f"ideal {ideal:.2f}s, "
        f"publish {publish_seconds:.2f}s"
    )
    emit(
        result(
            "tasks_1000",
            unit="s",
            value=makespan,
            baseline=ideal,
            ratio=ideal / makespan,
            params={"tasks": TASKS, "task_seconds": SECONDS, "pool": "threads", "concurrency": CONCURRENCY},
            measured_over_ideal=round(makespan / ideal, 3),
            seconds_from_first_publish=round(since_publish, 3),
            publish_seconds=round(publish_seconds, 3),
            two_processes_of_25_seconds=round(two_makespan, 3),
            two_processes_of_25_over_ideal=round(two_makespan / ideal, 3),
            plain_celery_seconds=round(plain_makespan, 3),
            over_plain_celery=round(makespan / plain_makespan, 3),
        )
    )


if __name__ == "__main__":
    main()
