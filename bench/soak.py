"""Benchmark `soak`: events lost + events applied twice over a long run at a steady rate, with faults
injected on a schedule (the scenarios of tests/faults on real processes, PostgreSQL and LocalStack).

    python -m bench.soak                   # or: make bench B=soak (600 s)
    python -m bench.soak --duration 120    # a short run

The bench commits as the monolith does (its services, in this process): creates and updates of users at
`--rate` events/s. Relay, bridge and the events worker run as processes (devstack/faults.py). The
faults, spread over the run: the bridge killed (`kill -9`, restarted at once), the events worker's
process group killed (restarted at once: its unacked tasks come back once the events role's visibility
timeout has passed since their delivery, at the next restore sweep: users_service/queues.py;
EVENTS_VISIBILITY_TIMEOUT is the SQS queue's, not the role's), LocalStack stopped for FAULT_SECONDS
(relay and bridge both lose it; restarted on its port and the topology recreated, as LocalStack keeps
no state natively), the cache Redis frozen (SIGSTOP) for FAULT_SECONDS, a batch of already delivered
events published again (duplicates, older versions after newer ones), and poison mixed into the queue.
The broker Redis restarted without persistence joins them when the bridge's hand-off records exist
(`HANDOFF_GRACE_SECONDS` in the users settings).

The faults come one at a time, each after the pipeline caught up with the one before: with slow
recoveries the run lasts longer than `--duration`.

`value` = events lost + events applied twice once the run has converged (must be 0; `baseline` 0,
`ratio` 1/(1 + value)). Also: each fault with its recovery time (fault end → every event committed
before it applied), `p99_ms` commit → applied, each process's resident memory growth in % (from
its first sample after a warm-up to its last; a restarted process counts from its restart).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from bench._databases import BenchDatabases
from bench._events import sns_notification, user_envelope
from bench._pipeline import monolith_in_process
from bench.common import emit, log, percentile, result
from devstack.faults import APPLY_TASK, FaultStack, fault_stack, process_rss_kib
from devstack.localstack import LocalStackServer
from devstack.stack import BASE_DIR
from devstack.supervisor import Supervisor
from events import types
from events.aws import AwsSettings, client
from users_service.queues import EVENTS, RESTORE_SWEEP_SECONDS

DEFAULT_DURATION = float(os.environ.get("SOAK_DURATION", "600"))
DEFAULT_RATE = float(os.environ.get("SOAK_RATE", "50"))
#: How long an outage (emulator down, cache frozen) lasts.
FAULT_SECONDS = float(os.environ.get("SOAK_FAULT_SECONDS", "10"))
WARM_UP = 20.0
PRODUCERS = 4
#: How long the bench waits for the pipeline to catch up after a fault, and at the end.
CATCH_UP_LIMIT = 300.0
RSS_INTERVAL = 5.0
HANDOFF_GRACE = os.environ.get("SOAK_HANDOFF_GRACE_SECONDS", "60")
#: A process's memory is measured from this long after it started (imports, pools, first connections).
RSS_SETTLE = 20.0
#: The pipeline's processes, kept running by the supervisor.
PIPELINE = ("relay", "bridge", "worker-events")
HANDOFF_AVAILABLE = "HANDOFF_GRACE_SECONDS" in (BASE_DIR / "users_service" / "settings.py").read_text()


class Monolith:
    """Commits as the monolith does, in this process: `step()` creates a user or updates one, and
    records (user id, version) → commit time."""

    def __init__(self, env: dict[str, str]) -> None:
        # The stack's processes log at INFO (the workers' outcome lines are how doubles are counted);
        # this one's per-commit lines would only fill the soak's progress output.
        monolith_in_process(env, LOG_LEVEL="WARNING")
        from hr_monolith.people import services

        self.services = services
        self.users: list[str] = []
        self.versions: dict[str, int] = {}
        self.committed: dict[tuple[str, int], float] = {}
        self.serial = 0
        self.lock = threading.Lock()

    def step(self) -> None:
        with self.lock:
            self.serial += 1
            serial = self.serial
        if len(self.users) < 20 or random.random() < 0.3:
            user = self.services.user_create(
                email=f"soak-{serial}-{uuid.uuid4().hex[:6]}@example.com", first_name="S", last_name="K"
            )
            user_id = str(user.id)
            self.users.append(user_id)
        else:
            user_id = random.choice(self.users)
            user = self.services.user_update(user_id=user_id, data={"first_name": f"S{serial}"})
        self.versions[user_id] = user.version
        self.committed[(user_id, user.version)] = time.time()


@dataclass
class Producer:
    """`rate` events/s from PRODUCERS paced threads until stopped: event i is due at i / rate, so one
    slow commit delays neither the schedule nor the other threads."""

    monolith: Monolith
    rate: float
    stop: threading.Event = field(default_factory=threading.Event)
    events: int = 0
    started: float = 0.0
    stopped: float = 0.0

    def run(self, first: int) -> None:
        from django.db import connection

        index = first
        while not self.stop.is_set():
            delay = self.started + index / self.rate - time.monotonic()
            if delay > 0 and self.stop.wait(delay):
                break
            self.monolith.step()
            with self.monolith.lock:
                self.events += 1
            index += PRODUCERS
        self.stopped = time.monotonic()
        connection.close()

    def start(self) -> list[threading.Thread]:
        self.started = time.monotonic()
        threads = [
            threading.Thread(target=self.run, args=(first,), name=f"producer-{first}", daemon=True)
            for first in range(PRODUCERS)
        ]
        for thread in threads:
            thread.start()
        return threads


class MemorySampler:
    """Resident memory of every process of the stack every RSS_INTERVAL seconds, per incarnation."""

    def __init__(self, stack: FaultStack) -> None:
        self.stack = stack
        self.samples: dict[str, list[tuple[int, float, int]]] = {}
        self.stop = threading.Event()

    def processes(self) -> dict[str, int]:
        servers = {"localstack": self.stack.emulator, "broker": self.stack.broker, "cache": self.stack.cache}
        every = {**servers, **self.stack.processes}
        return {name: p.process.pid for name, p in every.items() if p.running}

    def run(self) -> None:
        while not self.stop.wait(RSS_INTERVAL):
            for name, pid in self.processes().items():
                rss = process_rss_kib(pid)
                if rss:
                    self.samples.setdefault(name, []).append((pid, time.monotonic(), rss))

    def growth_pct(self) -> dict[str, float | None]:
        """Per process: growth from its first settled sample to its last (the incarnation alive at end)."""
        growth: dict[str, float | None] = {}
        for name, samples in self.samples.items():
            pid = samples[-1][0]
            mine = [(at, rss) for p, at, rss in samples if p == pid]
            settled = [rss for at, rss in mine if at - mine[0][0] >= RSS_SETTLE]
            growth[name] = (
                round((settled[-1] - settled[0]) / settled[0] * 100, 1) if len(settled) > 1 else None
            )
        return growth


@dataclass
class Fault:
    name: str
    inject: Callable[[FaultStack], None]


def _kill_restart(name: str) -> Callable[[FaultStack], None]:
    def inject(stack: FaultStack) -> None:
        stack.restart(name)

    return inject


def _emulator_down(stack: FaultStack) -> None:
    stack.stop_emulator()
    time.sleep(FAULT_SECONDS)
    stack.start_emulator()


def _cache_frozen(stack: FaultStack) -> None:
    stack.cache.signal(signal.SIGSTOP)
    try:
        time.sleep(FAULT_SECONDS)
    finally:
        stack.cache.signal(signal.SIGCONT)


def _duplicates(stack: FaultStack) -> None:
    """The 20 newest delivered events published again, newest first: repeats and older versions."""
    rows = stack.hr_db.rows(
        "SELECT envelope FROM outbox_outboxevent WHERE sent_at IS NOT NULL ORDER BY id DESC LIMIT 20"
    )
    sns = client("sns", AwsSettings.from_env(stack.env))
    for (envelope,) in rows:
        message = envelope if isinstance(envelope, str) else json.dumps(envelope)
        sns.publish(TopicArn=stack.topology.topic_arn, Message=message)


def _poison(stack: FaultStack) -> None:
    sqs, topic = client("sqs", AwsSettings.from_env(stack.env)), stack.topology.topic_arn
    unknown = user_envelope(types.USER_CREATED).to_dict() | {"event_type": "user.promoted"}
    for body in (
        "not json",
        sns_notification(topic, "{truncated"),
        sns_notification(topic, json.dumps(unknown)),
        sns_notification("arn:aws:sns:us-east-1:000000000000:forged", user_envelope().to_json()),
    ):
        sqs.send_message(QueueUrl=stack.topology.queue_url, MessageBody=body)


def _broker_restart(stack: FaultStack) -> None:
    stack.broker.stop()
    stack.broker.start()


FAULTS = [
    Fault("bridge_kill_9", _kill_restart("bridge")),
    Fault("worker_kill_9", _kill_restart("worker-events")),
    Fault("emulator_down", _emulator_down),
    Fault("cache_frozen", _cache_frozen),
    Fault("duplicates_reordered", _duplicates),
    Fault("poison", _poison),
    *([Fault("broker_restart", _broker_restart)] if HANDOFF_AVAILABLE else []),
]


def _epoch(value: object) -> float:
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value.timestamp()  # type: ignore[attr-defined]


def applied_since(stack: FaultStack, since: float) -> set[str]:
    """Event ids the events worker applied (or found stale) since `since` (epoch seconds)."""
    sql = f"SELECT event_id, processed_at FROM directory_inboxentry WHERE task_name = '{APPLY_TASK}'"
    if stack.users_db.url:
        sql += f" AND processed_at >= to_timestamp({since})"
    return {str(uuid.UUID(str(event_id))) for event_id, at in stack.users_db.rows(sql) if _epoch(at) >= since}


def recovery_seconds(stack: FaultStack, fault_end: float) -> float | None:
    """Seconds from `fault_end` (epoch) until every event committed before it is applied."""
    needed = stack.outbox_events() - applied_since(stack, 0)
    started = time.monotonic()
    while needed:
        if time.monotonic() - started > CATCH_UP_LIMIT:
            return None
        time.sleep(0.5)
        needed -= applied_since(stack, fault_end - 5)
    return round(time.time() - fault_end, 1)


def latencies_ms(stack: FaultStack, committed: dict[tuple[str, int], float]) -> list[float]:
    rows = stack.users_db.rows(
        "SELECT aggregate_id, aggregate_version, processed_at FROM directory_inboxentry "
        f"WHERE task_name = '{APPLY_TASK}'"
    )
    applied = {(str(aggregate_id), int(version)): _epoch(at) for aggregate_id, version, at in rows}
    return [(applied[key] - at) * 1000 for key, at in committed.items() if key in applied]


def soak(duration: float, rate: float) -> dict:
    databases = BenchDatabases.postgres_or_sqlite()
    workdir = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    # The hand-off keeps its production grace (HANDOFF_GRACE_SECONDS, 60 s): a shorter one re-publishes
    # every event that waits longer than it, and under load that is most of them.
    settings = {"HANDOFF_GRACE_SECONDS": HANDOFF_GRACE} if HANDOFF_AVAILABLE else {}
    log(f"soak: {duration:.0f}s at {rate:.0f} events/s, {databases.engine}, LocalStack, work dir {workdir}")
    try:
        urls = {"hr": databases.url("hr"), "users": databases.url("users")}
        # This process commits as the monolith (`Monolith`): the stack needs no monolith process.
        stack_options = {"emulator": LocalStackServer, "database_urls": urls, "monolith_process": False}
        with fault_stack(workdir, **stack_options, **settings) as stack:
            for name in PIPELINE:
                stack.start(name)
            stack.worker_ready()
            monolith = Monolith(stack.env)
            producer = Producer(monolith, rate)
            sampler = MemorySampler(stack)
            threading.Thread(target=sampler.run, name="rss", daemon=True).start()
            # What compose's restart policy does: a process that exits without a fault stopping it
            # is started again.
            supervisor = Supervisor(stack.processes, stack.start, PIPELINE, say=lambda m: log(f"soak:   {m}"))
            threading.Thread(target=supervisor.watch, name="supervisor", daemon=True).start()
            threads = producer.start()
            started = time.monotonic()
            faults: list[dict] = []
            spacing = max(duration - WARM_UP, 1) / (len(FAULTS) + 1)
            for index, fault in enumerate(FAULTS, start=1):
                due = started + WARM_UP + index * spacing
                if due > started + duration:
                    break
                time.sleep(max(0.0, due - time.monotonic()))
                log(f"soak: {time.monotonic() - started:.0f}s fault {fault.name}")
                fault_started = time.monotonic()
                with supervisor.paused():
                    fault.inject(stack)
                lasted = time.monotonic() - fault_started
                fault_end = time.time()
                recovery = recovery_seconds(stack, fault_end)
                log(f"soak:   {fault.name} recovered in {recovery}s")
                faults.append(
                    {
                        "fault": fault.name,
                        "at_s": round(fault_started - started, 1),
                        "lasted_s": round(lasted, 1),
                        "recovery_s": recovery,
                    }
                )
            time.sleep(max(0.0, started + duration - time.monotonic()))
            producer.stop.set()
            for thread in threads:
                thread.join(30)
            log(f"soak: {producer.events} events committed; waiting for the pipeline to converge")
            try:
                state = stack.wait_converged(timeout=CATCH_UP_LIMIT)
            except AssertionError as exc:
                log(str(exc)[:4000])
                state = stack.convergence()
            sampler.stop.set()
            supervisor.request_stop()
            latencies = latencies_ms(stack, monolith.committed)
            lost, doubled = len(state.missing_events), state.doubled
            recoveries = [f["recovery_s"] for f in faults]
            return result(
                "soak",
                unit="events lost or doubled",
                value=lost + doubled,
                baseline=0,
                ratio=1 / (1 + lost + doubled),
                params={
                    "duration_s": duration,
                    "rate_target": rate,
                    "rate_achieved": round(producer.events / (producer.stopped - producer.started), 1),
                    "database": databases.engine,
                    "emulator": "localstack 4.13.1 (native)",
                    "fault_seconds": FAULT_SECONDS,
                    "processes": "relay, bridge, events worker (run_worker events)",
                    "producers": PRODUCERS,
                    "not_consumed": "cache queue (warms call the monolith's web process, not run here): "
                    "its tasks wait in the broker Redis, whose memory grows with them",
                    "broker_restart": HANDOFF_AVAILABLE,
                    "handoff_grace_s": float(HANDOFF_GRACE) if HANDOFF_AVAILABLE else None,
                    # The SQS queue's (EVENTS_VISIBILITY_TIMEOUT): how soon the bridge's received,
                    # undeleted messages come back after the bridge is killed.
                    "sqs_visibility_timeout_s": float(stack.env["EVENTS_VISIBILITY_TIMEOUT"]),
                    # The events role's (Celery on Redis): how soon the tasks a killed worker held come
                    # back, at the first restore sweep after it; worker_kill_9's recovery is about that.
                    "events_role_visibility_timeout_s": float(EVENTS.visibility_timeout),
                    "restore_sweep_s": float(RESTORE_SWEEP_SECONDS),
                },
                events=producer.events,
                lost=lost,
                doubled=doubled,
                users_differing=len(state.differing),
                faults=faults,
                process_restarts=[asdict(restart) for restart in supervisor.restarts],
                max_recovery_s=None if None in recoveries else max(recoveries, default=0),
                p50_ms=round(percentile(latencies, 50), 1) if latencies else None,
                p99_ms=round(percentile(latencies, 99), 1) if latencies else None,
                rss_growth_pct=sampler.growth_pct(),
                cores=os.cpu_count(),
            )
    finally:
        databases.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=DEFAULT_DURATION, help="seconds (default 600)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="events/s (default 50)")
    options = parser.parse_args(argv)
    emit(soak(options.duration, options.rate))
    return 0


if __name__ == "__main__":
    sys.exit(main())
