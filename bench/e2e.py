"""Benchmark `e2e`: events/s from commit in the monolith to applied in the users service's read model,
through relay, LocalStack, bridge, Redis and Celery workers (real processes), against LocalStack's own
publish_batch → receive+delete ceiling on the same topic and queue, plus commit → applied latency at a
steady rate.

    python -m bench.e2e          # or: make bench B=e2e

PostgreSQL comes from BENCH_POSTGRES_URL (an admin URL; default postgres://postgres@127.0.0.1:5432/postgres):
two uniquely named databases are created and dropped after. Without a PostgreSQL there, SQLite is used
and the figure says so (SQLite serialises writers and caps throughput).
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench._events import user_envelope
from bench._pipeline import (
    Pipeline,
    ReadModel,
    bridge_command,
    monolith_in_process,
    pipeline,
    relay_command,
    users_worker_command,
)
from bench._sqs import SqsDrain
from bench.common import CpuMeter, emit, log, percentile, result
from events import types
from events.aws import client
from events.publisher import SnsPublisher
from shared_settings.sqlite import USERS_SQLITE

BURST = int(os.environ.get("E2E_BURST", "1000"))
CEILING_EVENTS = int(os.environ.get("E2E_CEILING_EVENTS", "2000"))
STEADY_RATE = float(os.environ.get("E2E_STEADY_RATE", "100"))
STEADY_SECONDS = float(os.environ.get("E2E_STEADY_SECONDS", "10"))
THREADS = int(os.environ.get("E2E_THREADS", "4"))
PRODUCERS = 4
WORKER_PROCESSES = int(os.environ.get("E2E_WORKER_PROCESSES", "2"))
#: Relay processes side by side (PostgreSQL: SKIP LOCKED shares the backlog).
RELAYS = int(os.environ.get("E2E_RELAYS", "1"))
WORKER_CONCURRENCY = int(os.environ.get("E2E_WORKER_CONCURRENCY", "4"))
WORKER_POOL = os.environ.get("E2E_WORKER_POOL", "threads")
RELAY_POLL_INTERVAL = os.environ.get("E2E_RELAY_POLL_INTERVAL", "0.01")
#: Every process logs at WARNING. The workers' level is their LOG_LEVEL (the service's logging
#: replaces Celery's, so `--loglevel` alone does not change it); INFO adds a line per task.
LOG_LEVEL = "WARNING"
WORKER_LOGLEVEL = os.environ.get("E2E_WORKER_LOGLEVEL", LOG_LEVEL)
#: The read model's queue only. `user.created` also fans out `resources.warm` on `cache`, which
#: calls the monolith's web process (not part of this bench): consumed here, every warm failed
#: and retried with backoff, and those retries took half the workers' CPU. The bridge still
#: publishes them (its cost is counted); their worker is a separate deployment (README).
WORKER_QUEUES = "events"
#: How often the bench looks at the read model while it waits: it shares the 2 cores it measures.
POLL_SECONDS = 0.25
WARM_UP = 20

Create = Callable[[int], str]


def ceiling(stack: Pipeline, count: int) -> float:
    """LocalStack alone: publish_batch (THREADS in flight) while THREADS loops receive 10 + delete."""
    aws = stack.aws
    publisher = SnsPublisher(client("sns", aws), stack.topology.topic_arn)
    envelopes = [
        user_envelope(types.USER_CREATED, department=None, location=None, start_date=None)
        for _ in range(count)
    ]
    batches = [envelopes[i : i + 10] for i in range(0, count, 10)]
    started = time.perf_counter()
    drain = SqsDrain(client("sqs", aws, read_timeout=10), stack.topology.queue_url, threads=THREADS).start()
    try:
        with ThreadPoolExecutor(THREADS) as pool:
            for outcome in pool.map(publisher.publish_batch, batches):
                if outcome.failed:
                    raise RuntimeError(f"LocalStack refused {len(outcome.failed)} events")
        drained = drain.wait_for(count, timeout=120)
        elapsed = time.perf_counter() - started
    finally:
        drain.stop()
    if not drained:
        raise RuntimeError(f"ceiling: drained {drain.count} of {count}")
    return count / elapsed


def start_pipeline(stack: Pipeline) -> None:
    """Relay(s), one bridge and the workers, as real processes."""
    commands = {f"hr-relay-{index}": relay_command() for index in range(RELAYS)}
    commands["users-bridge"] = bridge_command()
    workers_env: dict[str, dict[str, str]] = {}
    for index in range(WORKER_PROCESSES):
        workers_env[f"users-worker-{index}"] = {"LOG_LEVEL": WORKER_LOGLEVEL}
        commands[f"users-worker-{index}"] = users_worker_command(
            pool=WORKER_POOL,
            concurrency=WORKER_CONCURRENCY,
            queues=WORKER_QUEUES,
            loglevel=WORKER_LOGLEVEL,
            hostname=f"bench{index}@%h",
            heartbeat=False,
        )
    stack.start(commands, env=workers_env)


def monolith_creates(env: dict[str, str]) -> Create:
    """This process commits as the monolith does (the stack's settings, its database, its log level):
    `create(i)` makes a user through the monolith's service and returns its id."""
    monolith_in_process(env)
    from hr_monolith.people.services import user_create

    def create(i: int) -> str:
        email = f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com"
        return str(user_create(email=email, first_name="B", last_name=str(i)).id)

    return create


def cpu_meter(stack: Pipeline, read_model: ReadModel) -> CpuMeter:
    """Every process of the pipeline and, on PostgreSQL, each database's backends but the bench's own."""
    from django.db import connection

    if stack.databases.engine != "postgresql":
        return CpuMeter(stack.pids())
    connection.ensure_connection()
    own_backends = [read_model.backend_pid, connection.connection.info.backend_pid]
    databases = {f"postgresql ({s})": stack.databases.name(s) for s in ("hr", "users")}
    return CpuMeter(stack.pids(), databases, own_backends)


def burst(create: Create, read_model: ReadModel, meter: CpuMeter, broker_url: str) -> tuple[float, dict]:
    """BURST users committed in one transaction: events/s from the commit to the last one applied."""
    from django.db import transaction

    log(f"e2e: burst of {BURST} events committed in one transaction")
    cpu_before = meter.read()
    with transaction.atomic():
        for i in range(BURST):
            create(1000 + i)
    committed = time.time()
    read_model.wait_applied(WARM_UP + BURST, timeout=120, interval=POLL_SECONDS, progress=broker_url)
    cpu = CpuMeter.per_event(cpu_before, meter.read(), BURST)
    throughput = BURST / (max(read_model.applied_at().values()) - committed)
    log(f"e2e: CPU ms per event during the burst: {cpu}")
    return throughput, cpu


def produce_steadily(create: Create, total: int) -> tuple[dict[str, float], float]:
    """`total` users at STEADY_RATE from PRODUCERS paced threads, so that one slow commit does not delay
    the next event's schedule: (user id → commit time, the rate reached)."""
    from django.db import connection

    commits: dict[str, float] = {}
    started = time.monotonic()

    def produce(first: int) -> None:
        for i in range(first, total, PRODUCERS):
            delay = started + i / STEADY_RATE - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            user_id = create(100_000 + i)
            commits[user_id] = time.time()
        connection.close()

    with ThreadPoolExecutor(PRODUCERS) as pool:
        list(pool.map(produce, range(PRODUCERS)))
    return commits, total / (time.monotonic() - started)


def latencies(commits: dict[str, float], read_model: ReadModel) -> dict[str, float]:
    """Commit → applied, and where the time goes, from the rows afterwards: commit → the relay marked it
    sent (its poll wait and the publish_batch call), sent → applied (LocalStack, bridge, Redis, worker)."""
    from hr_monolith.outbox.models import OutboxEvent

    applied = read_model.applied_at()
    rows = OutboxEvent.objects.filter(aggregate_id__in=list(commits)).only("aggregate_id", "sent_at")
    sent = {row.aggregate_id: row.sent_at.timestamp() for row in rows}
    total = [(applied[user_id] - at) * 1000 for user_id, at in commits.items()]
    relayed = [(sent[user_id] - at) * 1000 for user_id, at in commits.items()]
    delivered = [(applied[user_id] - sent[user_id]) * 1000 for user_id in commits]
    return {
        "p50": round(percentile(total, 50), 1),
        "p99": round(percentile(total, 99), 1),
        "max": round(max(total), 1),
        "commit_to_sent_p50": round(percentile(relayed, 50), 1),
        "commit_to_sent_p99": round(percentile(relayed, 99), 1),
        "sent_to_applied_p50": round(percentile(delivered, 50), 1),
        "sent_to_applied_p99": round(percentile(delivered, 99), 1),
    }


def steady(create: Create, read_model: ReadModel, meter: CpuMeter) -> dict[str, Any]:
    """STEADY_RATE events/s for STEADY_SECONDS: the latency of each event, one at a time."""
    total = int(STEADY_RATE * STEADY_SECONDS)
    log(f"e2e: steady {STEADY_RATE:.0f} events/s for {STEADY_SECONDS:.0f}s, latency per event")
    cpu_before = meter.read()
    commits, achieved_rate = produce_steadily(create, total)
    read_model.wait_applied(WARM_UP + BURST + total, timeout=120, interval=POLL_SECONDS)
    cpu = CpuMeter.per_event(cpu_before, meter.read(), total)
    return {"events": total, "rate": achieved_rate, "cpu": cpu, "latency_ms": latencies(commits, read_model)}


def e2e_line(
    ceiling_rate: float, throughput: float, burst_cpu: dict, run: dict[str, Any], engine: str
) -> dict:
    return result(
        "e2e",
        unit="events/s",
        value=throughput,
        baseline=ceiling_rate,
        params={
            "burst_events": BURST,
            "ceiling_events": CEILING_EVENTS,
            "database": engine,
            "emulator": "localstack 4.13.1 (native)",
            "relays": RELAYS,
            "bridge_threads": THREADS,
            "worker_processes": WORKER_PROCESSES,
            "worker_pool": WORKER_POOL,
            "worker_concurrency": WORKER_CONCURRENCY,
            "worker_loglevel": WORKER_LOGLEVEL,
            "worker_queues": WORKER_QUEUES,
            "not_consumed": "cache (resources.warm, one per user.created: needs the monolith's web)",
            "relay_poll_interval_s": float(RELAY_POLL_INTERVAL),
            "steady_rate_target": STEADY_RATE,
            "steady_rate_achieved": round(run["rate"], 1),
            "steady_events": run["events"],
        },
        cpu_ms_per_event={"burst": burst_cpu, "steady": run["cpu"]},
        cores=os.cpu_count(),
        load_average_1m=round(os.getloadavg()[0], 2),
        latency_ms=run["latency_ms"],
    )


def main() -> int:
    settings = {
        "BRIDGE_THREADS": str(THREADS),
        "BRIDGE_WAIT_SECONDS": "1",
        "RELAY_POLL_INTERVAL": RELAY_POLL_INTERVAL,
        "LOG_LEVEL": LOG_LEVEL,
    }
    with pipeline(**settings) as stack:
        log(f"e2e: ceiling, {CEILING_EVENTS} events through LocalStack alone")
        ceiling_rate = ceiling(stack, CEILING_EVENTS)
        log(f"e2e: ceiling {ceiling_rate:.0f} events/s")
        log("e2e: migrating both databases")
        stack.migrate()
        start_pipeline(stack)
        create = monolith_creates(stack.env)
        read_model = ReadModel(stack.env.get("USERS_DATABASE_URL", ""), stack.workdir / USERS_SQLITE)

        log("e2e: warming up (processes start, first events)")
        for i in range(WARM_UP):
            create(i)
        read_model.wait_applied(WARM_UP, timeout=90, interval=POLL_SECONDS)
        meter = cpu_meter(stack, read_model)
        throughput, burst_cpu = burst(create, read_model, meter, stack.env["CELERY_BROKER_URL"])
        log(f"e2e: {throughput:.0f} events/s commit → applied (ceiling {ceiling_rate:.0f})")
        run = steady(create, read_model, meter)
        read_model.close()
        emit(e2e_line(ceiling_rate, throughput, burst_cpu, run, stack.databases.engine))
    return 0


if __name__ == "__main__":
    sys.exit(main())
