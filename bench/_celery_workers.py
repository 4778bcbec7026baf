"""A Celery app for the worker benchmarks, with the users service's delivery settings, and helpers
to run a real worker of it on a throw-away Redis.

Its tasks stand in for I/O-bound handlers: `bench.wait` sleeps, `bench.call_upstream` waits on
an HTTP upstream. Each records when it started and ended in Redis, so that a benchmark measures
the work itself and not the worker's start-up.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis
import requests
from celery import Celery

from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer

BASE_DIR = Path(__file__).resolve().parent.parent
CELERY = str(Path(sys.executable).parent / "celery")
QUEUE = "bench"
TIMES_KEY = "bench:times"
#: Set (to the delivery settings, JSON) in a plain Celery worker: it imports nothing of the service,
#: so no Django set-up, structured logging, metrics or signal handlers of the service run in it.
PLAIN_CELERY_ENV = "BENCH_PLAIN_CELERY"


def _delivery_settings() -> dict:
    """The users service's delivery settings; a plain worker gets them from its environment."""
    if os.environ.get(PLAIN_CELERY_ENV):
        return json.loads(os.environ[PLAIN_CELERY_ENV])
    from users_service import settings as service

    return {
        "task_serializer": service.CELERY_TASK_SERIALIZER,
        "accept_content": service.CELERY_ACCEPT_CONTENT,
        "task_acks_late": service.CELERY_TASK_ACKS_LATE,
        "task_reject_on_worker_lost": service.CELERY_TASK_REJECT_ON_WORKER_LOST,
        "worker_prefetch_multiplier": service.CELERY_WORKER_PREFETCH_MULTIPLIER,
        "broker_transport_options": service.CELERY_BROKER_TRANSPORT_OPTIONS,
    }


DELIVERY = _delivery_settings()
app = Celery("bench", broker=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/0"))
app.conf.update(
    **DELIVERY,
    task_ignore_result=True,
    task_default_queue=QUEUE,
    broker_connection_retry_on_startup=True,
)
if not os.environ.get(PLAIN_CELERY_ENV):
    # The service's worker consumes through its own consumer (users_service/worker_consumer.py).
    from users_service import settings as _service

    app.conf.worker_consumer = _service.CELERY_WORKER_CONSUMER
_session = requests.Session()
_redis: dict[str, redis.Redis] = {}


def _record(started: float, label: str) -> None:
    url = app.conf.broker_url
    client = _redis.get(url) or _redis.setdefault(url, redis.Redis.from_url(url))
    client.rpush(TIMES_KEY, f"{label} {started} {time.time()}")


@app.task(name="bench.wait")
def wait(seconds: float, label: str = "") -> None:
    started = time.time()
    time.sleep(seconds)
    _record(started, label)


@app.task(name="bench.call_upstream")
def call_upstream(url: str, label: str = "") -> None:
    started = time.time()
    _session.get(url, timeout=30).raise_for_status()
    _record(started, label)


def task_times(broker_url: str) -> list[tuple[str, float, float]]:
    """(label, started, ended) of every task run so far."""
    rows = redis.Redis.from_url(broker_url).lrange(TIMES_KEY, 0, -1)
    out = []
    for row in rows:
        label, started, ended = row.decode().split(" ")
        out.append((label, float(started), float(ended)))
    return out


def publish(signatures: list, *, batch: int = 1000) -> None:
    """Send tasks in pipelined producer batches (as the bridge does), so publishing is not the bottleneck."""
    with app.producer_pool.acquire(block=True, timeout=10) as producer, producer.batch(max_size=batch):
        for signature in signatures:
            signature.apply_async(producer=producer)


def reset_times(broker_url: str) -> None:
    redis.Redis.from_url(broker_url).delete(TIMES_KEY)


def start_redis() -> RedisServer:
    return RedisServer(free_port(), Path(tempfile.mkdtemp(prefix="bench-redis-"))).start()


def start_worker(
    broker_url: str, *, concurrency: int, pool: str = "threads", plain: bool = False
) -> ManagedProcess:
    """A worker of this app with the users service's set-up (Django, logging, metrics, signal
    handlers), or with `plain` the same app and delivery settings in plain Celery."""
    env = dict(os.environ, BENCH_BROKER_URL=broker_url, PYTHONUNBUFFERED="1")
    if plain:
        env[PLAIN_CELERY_ENV] = json.dumps(DELIVERY)
        env.pop("DJANGO_SETTINGS_MODULE", None)
    command = [CELERY, "-A", "bench._celery_workers", "worker", "--pool", pool]
    command += ["--concurrency", str(concurrency), "--queues", QUEUE, "--loglevel", "WARNING"]
    command += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
    log_dir = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    name = f"worker-{pool}-{concurrency}{'-plain' if plain else ''}"
    worker = ManagedProcess(name, command, log_dir=log_dir, env=env, cwd=BASE_DIR)
    worker.start()
    # Ready when it has run a task.
    reset_times(broker_url)
    app.conf.broker_url = broker_url
    wait.apply_async(args=[0, "warmup"])
    wait_until(lambda: bool(task_times(broker_url)) or not worker.running, timeout=60, what="bench worker")
    if not worker.running:
        raise RuntimeError(f"worker exited:\n{worker.log_tail()}")
    reset_times(broker_url)
    return worker


def solo_worker(app: Any, queue: str) -> Any:
    """A quiet in-process worker of `app` on `queue`, solo pool (one task at a time), for a profile."""
    return app.Worker(
        pool="solo",
        concurrency=1,
        queues=[queue],
        loglevel="WARNING",
        without_gossip=True,
        without_mingle=True,
        without_heartbeat=True,
        quiet=True,
    )
