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
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import cpu_seconds, emit, log, percentile, postgres_cpu_seconds, result
from devstack.localstack import LocalStackServer
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import BASE_DIR, MANAGE, create_topology, manage, stack_env
from events.aws import AwsSettings, client
from events.envelope import Envelope
from events.publisher import SnsPublisher
from tests.samples import user_envelope

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
WORKER_LOGLEVEL = os.environ.get("E2E_WORKER_LOGLEVEL", "INFO")
#: The read model's queue only. `user.created` also fans out `resources.warm` on `cache`, which
#: calls the monolith's web process (not part of this bench): consumed here, every warm failed
#: and retried with backoff, and those retries took half the workers' CPU. The bridge still
#: publishes them (its cost is counted); their worker is a separate deployment (README).
WORKER_QUEUES = "events"
#: How often the bench looks at the read model while it waits: it shares the 2 cores it measures.
POLL_SECONDS = 0.25
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


class Databases:
    """Two throw-away databases (hr, users) on PostgreSQL, or SQLite files when none answers."""

    def __init__(self, workdir: Path) -> None:
        self.suffix = uuid.uuid4().hex[:10]
        self.workdir = workdir
        self.engine = "postgresql" if self._postgres_answers() else "sqlite"
        self.created: list[str] = []

    def _postgres_answers(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(ADMIN_URL, connect_timeout=2):
                return True
        except psycopg.Error:
            return False

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(sql)

    def url(self, service: str) -> str:
        if self.engine == "sqlite":
            return ""
        name = f"{service}_bench_{self.suffix}"
        if name not in self.created:
            self._admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def name(self, service: str) -> str:
        return f"{service}_bench_{self.suffix}"

    def drop(self) -> None:
        for name in self.created:
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ReadModel:
    """Reads the users service's read model straight from its database (the bench is not a service)."""

    def __init__(self, url: str, sqlite_path: Path) -> None:
        if url:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.placeholder = "%s"
        else:
            import sqlite3

            self.conn = sqlite3.connect(sqlite_path, check_same_thread=False)
            self.placeholder = "?"

    def applied_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM directory_userrecord").fetchone()[0]

    def applied_at(self) -> dict[str, float]:
        """id → when the worker wrote it (epoch seconds, from `updated_at`)."""
        rows = self.conn.execute("SELECT id, updated_at FROM directory_userrecord").fetchall()
        return {str(uuid.UUID(str(row[0]))): _epoch(row[1]) for row in rows}

    def close(self) -> None:
        self.conn.close()


class CpuMeter:
    """CPU seconds spent by each process of the pipeline (and its PostgreSQL backends) between
    two readings, from /proc: what each costs per event."""

    def __init__(
        self, processes: list[ManagedProcess], databases: dict[str, str], exclude: list[int]
    ) -> None:
        self.processes = [p for p in processes if p.process is not None]
        self.databases = databases
        self.exclude = exclude

    def read(self) -> dict[str, float]:
        readings = {p.name: cpu_seconds(p.process.pid) for p in self.processes}
        for label, database in self.databases.items():
            readings[label] = postgres_cpu_seconds(database, exclude=self.exclude)
        times = os.times()
        readings["bench (commits, polling)"] = times.user + times.system
        return readings

    @staticmethod
    def per_event(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
        costs = {name: round(1000 * (after[name] - before[name]) / events, 2) for name in after}
        costs["total"] = round(sum(costs.values()), 2)
        return costs


def _epoch(value: Any) -> float:
    if isinstance(value, str):  # SQLite returns text
        from datetime import datetime

        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value.timestamp()


def ceiling(aws: AwsSettings, topic_arn: str, queue_url: str, count: int) -> float:
    """LocalStack alone: publish_batch (THREADS in flight) while THREADS loops receive 10 + delete."""
    sns, sqs = client("sns", aws), client("sqs", aws, read_timeout=10)
    publisher = SnsPublisher(sns, topic_arn)
    envelopes = [sample_envelope() for _ in range(count)]
    batches = [envelopes[i : i + 10] for i in range(0, count, 10)]
    drained = [0]
    lock = threading.Lock()
    stop = threading.Event()

    def drain() -> None:
        while not stop.is_set():
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
                    ],
                )
                with lock:
                    drained[0] += len(messages)
                    if drained[0] >= count:
                        stop.set()

    started = time.perf_counter()
    drainers = [threading.Thread(target=drain, daemon=True) for _ in range(THREADS)]
    for thread in drainers:
        thread.start()
    with ThreadPoolExecutor(THREADS) as pool:
        for outcome in pool.map(publisher.publish_batch, batches):
            if outcome.failed:
                raise RuntimeError(f"LocalStack refused {len(outcome.failed)} events")
    stop.wait(120)
    elapsed = time.perf_counter() - started
    stop.set()
    for thread in drainers:
        thread.join(5)
    if drained[0] < count:
        raise RuntimeError(f"ceiling: drained {drained[0]} of {count}")
    return count / elapsed


def sample_envelope() -> Envelope:
    """An envelope of the size the relay publishes for `user.created`."""
    return user_envelope(
        "user.created",
        first_name="Bench",
        last_name="Mark",
        department=None,
        location=None,
        start_date=None,
    )


def wait_applied(read_model: ReadModel, total: int, *, timeout: float, progress: str | None = None) -> None:
    """Until `total` users are in the read model; with `progress` (the broker URL), log where events
    are: relayed to SNS, waiting in SQS, waiting in the Redis broker, applied (stderr)."""
    import redis

    from hr_monolith.outbox.models import OutboxEvent

    last_log = [0.0]

    def done() -> bool:
        applied = read_model.applied_count()
        if progress and time.monotonic() - last_log[0] > 1:
            last_log[0] = time.monotonic()
            sent = OutboxEvent.objects.filter(sent_at__isnull=False).count()
            queued = redis.Redis.from_url(progress).llen("events")
            log(f"e2e:   relayed {sent}, in the broker {queued}, applied {applied}")
        return applied >= total

    wait_until(done, timeout=timeout, what=f"{total} applied", interval=POLL_SECONDS)


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    owned: list[ManagedProcess] = []
    databases = Databases(workdir)
    try:
        log(f"e2e: database {databases.engine}, LocalStack and Redis on free ports, work dir {workdir}")
        localstack = LocalStackServer(free_port(), log_dir=workdir / "log").start()
        owned.append(localstack)
        redis = RedisServer(free_port(), workdir / "redis").start()
        owned.append(redis)
        env = stack_env(
            aws_endpoint=localstack.url,
            redis_url=redis.url,
            VAR_DIR=str(workdir),
            DATABASE_URL=databases.url("hr"),
            USERS_DATABASE_URL=databases.url("users"),
            BRIDGE_THREADS=str(THREADS),
            BRIDGE_WAIT_SECONDS="1",
            RELAY_POLL_INTERVAL=RELAY_POLL_INTERVAL,
            LOG_LEVEL="WARNING",
        )
        for name in ("DATABASE_URL", "USERS_DATABASE_URL"):
            if not env[name]:
                env.pop(name)
        topology = create_topology(env)
        aws = AwsSettings.from_env(env)

        log(f"e2e: ceiling, {CEILING_EVENTS} events through LocalStack alone")
        ceiling_rate = ceiling(aws, topology.topic_arn, topology.queue_url, CEILING_EVENTS)
        log(f"e2e: ceiling {ceiling_rate:.0f} events/s")

        log("e2e: migrating both databases")
        manage("hr", "migrate", "--noinput", env=env)
        manage("users", "migrate", "--noinput", env=env)
        commands = {f"hr-relay-{index}": [*MANAGE, "hr", "relay_outbox"] for index in range(RELAYS)}
        commands["users-bridge"] = [*MANAGE, "users", "run_bridge"]
        celery = str(Path(sys.executable).parent / "celery")
        for index in range(WORKER_PROCESSES):
            commands[f"users-worker-{index}"] = [
                celery,
                "-A",
                "users_service",
                "worker",
                "--pool",
                WORKER_POOL,
                "--concurrency",
                str(WORKER_CONCURRENCY),
                "--queues",
                WORKER_QUEUES,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "--hostname",
                f"bench{index}@%h",
                "--loglevel",
                WORKER_LOGLEVEL,
            ]
        for name, command in commands.items():
            process = ManagedProcess(name, command, log_dir=workdir / "log", env=env, cwd=BASE_DIR)
            owned.append(process.start())

        # This process commits as the monolith does: same settings, same database.
        for name in ("DATABASE_URL", "VAR_DIR"):
            if name in env:
                os.environ[name] = env[name]
        os.environ["DJANGO_SETTINGS_MODULE"] = "hr_monolith.settings"
        import django

        django.setup()
        from django.db import transaction

        from hr_monolith.people.services import user_create

        read_model = ReadModel(env.get("USERS_DATABASE_URL", ""), workdir / "users.sqlite3")

        def create(i: int) -> str:
            email = f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com"
            return str(user_create(email=email, first_name="B", last_name=str(i)).id)

        log("e2e: warming up (processes start, first events)")
        for i in range(20):
            create(i)
        wait_applied(read_model, 20, timeout=90)

        from django.db import connection

        own_backends = []
        if read_model.placeholder == "%s":
            own_backends.append(read_model.conn.info.backend_pid)
        if databases.engine == "postgresql":
            connection.ensure_connection()
            own_backends.append(connection.connection.info.backend_pid)
            pg = {"postgresql (hr)": databases.name("hr"), "postgresql (users)": databases.name("users")}
        else:
            pg = {}
        meter = CpuMeter([p for p in owned if isinstance(p, ManagedProcess)], pg, own_backends)

        log(f"e2e: burst of {BURST} events committed in one transaction")
        cpu_before = meter.read()
        with transaction.atomic():
            for i in range(BURST):
                create(1000 + i)
        committed = time.time()
        wait_applied(read_model, 20 + BURST, timeout=120, progress=env["CELERY_BROKER_URL"])
        burst_cpu = CpuMeter.per_event(cpu_before, meter.read(), BURST)
        last_applied = max(read_model.applied_at().values())
        throughput = BURST / (last_applied - committed)
        log(f"e2e: CPU ms per event during the burst: {burst_cpu}")
        log(f"e2e: {throughput:.0f} events/s commit → applied (ceiling {ceiling_rate:.0f})")

        total = int(STEADY_RATE * STEADY_SECONDS)
        log(f"e2e: steady {STEADY_RATE:.0f} events/s for {STEADY_SECONDS:.0f}s, latency per event")
        commits: dict[str, float] = {}
        started = time.monotonic()

        def produce(first: int) -> None:
            # Several producers, so that one slow commit does not delay the next event's schedule.
            from django.db import connection

            for i in range(first, total, PRODUCERS):
                delay = started + i / STEADY_RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                user_id = create(100_000 + i)
                commits[user_id] = time.time()
            connection.close()

        cpu_before = meter.read()
        with ThreadPoolExecutor(PRODUCERS) as pool:
            list(pool.map(produce, range(PRODUCERS)))
        achieved_rate = total / (time.monotonic() - started)
        wait_applied(read_model, 20 + BURST + total, timeout=120)
        steady_cpu = CpuMeter.per_event(cpu_before, meter.read(), total)
        applied = read_model.applied_at()
        latencies = [(applied[user_id] - at) * 1000 for user_id, at in commits.items()]
        # Where the time goes, from the rows afterwards: commit → the relay marked it sent (its
        # poll wait and the publish_batch call), and sent → applied (LocalStack, bridge, Redis, worker).
        from hr_monolith.outbox.models import OutboxEvent

        sent = {
            row.aggregate_id: row.sent_at.timestamp()
            for row in OutboxEvent.objects.filter(aggregate_id__in=list(commits)).only(
                "aggregate_id", "sent_at"
            )
        }
        relayed = [(sent[user_id] - at) * 1000 for user_id, at in commits.items()]
        delivered = [(applied[user_id] - sent[user_id]) * 1000 for user_id in commits]
        read_model.close()

        emit(
            result(
                "e2e",
                unit="events/s",
                value=throughput,
                baseline=ceiling_rate,
                params={
                    "burst_events": BURST,
                    "ceiling_events": CEILING_EVENTS,
                    "database": databases.engine,
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
                    "steady_rate_achieved": round(achieved_rate, 1),
                    "steady_events": total,
                },
                cpu_ms_per_event={"burst": burst_cpu, "steady": steady_cpu},
                cores=os.cpu_count(),
                load_average_1m=round(os.getloadavg()[0], 2),
                latency_ms={
                    "p50": round(percentile(latencies, 50), 1),
                    "p99": round(percentile(latencies, 99), 1),
                    "max": round(max(latencies), 1),
                    "commit_to_sent_p50": round(percentile(relayed, 50), 1),
                    "commit_to_sent_p99": round(percentile(relayed, 99), 1),
                    "sent_to_applied_p50": round(percentile(delivered, 50), 1),
                    "sent_to_applied_p99": round(percentile(delivered, 99), 1),
                },
            )
        )
        return 0
    except Exception:
        for process in owned:
            if isinstance(process, ManagedProcess):
                log(f"--- {process.name}\n{process.log_tail(15)}")
        raise
    finally:
        for process in reversed(owned):
            process.stop()
        databases.drop()


if __name__ == "__main__":
    sys.exit(main())
