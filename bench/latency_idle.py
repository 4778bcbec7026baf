"""Benchmark `latency_idle`: how long one user created in the monolith takes to be visible in the
users service's read model, one create at a time on an otherwise idle stack, with the relay woken
on commit against the relay that only polls (its default 0.2 s interval).

    python -m bench.latency_idle          # or: make bench B=latency_idle

Two stacks, each in a process of its own (Django is set up once per process): the default one of
`make run` (SQLite, moto server; the relay wakes on a Redis nudge) and PostgreSQL + LocalStack (the
relay LISTENs). On each, the same bridge and worker serve both relays; the relays take turns in
rounds, so a change in the machine's load falls on both. `value` is the default stack's p50 with the
wake-up, `baseline` the polling relay's p50 on the same stack, `ratio` baseline / value.

Each create is also broken into hops by the times the rows carry (ms after the commit, p50 and p99
in `hops_ms_after_commit`): the relay marks the outbox row sent after SNS accepted it, the bridge's
hand-off row says when it received the SQS message and when the broker accepted the tasks, the
worker stamps the read model's row as it starts its write, and this process sees the row
committed. The worker is the events role of the default stack (`manage.py users run_worker
events`). After the rounds, `idle_cpu_ms_per_s` is each process's CPU over IDLE_SECONDS without
events, the wake-up relay running.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from typing import Any

from bench._databases import BenchDatabases, postgres_answers
from bench._pipeline import Pipeline, bridge_command, pipeline, relay_command
from bench.common import cpu_seconds_of, emit, log, percentile, result
from devstack.processes import ManagedProcess
from devstack.stack import BASE_DIR, MANAGE
from shared_settings.sqlite import USERS_SQLITE

CREATES = int(os.environ.get("LATENCY_IDLE_CREATES", "20"))
ROUNDS = 2
WARM_UP = 3
#: The relay's default idle poll (hr_monolith settings), the baseline's only way to notice a row.
POLL_INTERVAL = "0.2"
#: How often the bench looks for the new user in the read model (the figure's resolution).
LOOK_EVERY = 0.0005
#: Seconds without events over which each process's idle CPU is measured.
IDLE_SECONDS = 10.0
#: The marks of one create, in the order an event passes them (ms after the commit).
HOPS = ("relay_published", "bridge_received", "broker_accepted", "worker_writing", "visible")
#: A pause between creates, random so that the polling relay's phase is random too.
PAUSE = (0.25, 0.45)
#: name → (emulator, database engine)
STACKS = {"sqlite+moto": ("moto", "sqlite"), "postgresql+localstack": ("localstack", "postgresql")}
DEFAULT_STACK = "sqlite+moto"
MODES = {"wake": "true", "polling": "false"}


class Monolith:
    """This process commits as the monolith does (same settings, same database, same nudges)."""

    def __init__(self, env: dict[str, str]) -> None:
        for name in ("DATABASE_URL", "VAR_DIR", "RELAY_WAKE_REDIS_URL", "RELAY_WAKE"):
            if name in env:
                os.environ[name] = env[name]
        os.environ["DJANGO_SETTINGS_MODULE"] = "hr_monolith.settings"
        import django

        django.setup()

    def create(self, i: int) -> uuid.UUID:
        from hr_monolith.people.services import user_create

        email = f"idle-{i}-{uuid.uuid4().hex[:6]}@example.com"
        return user_create(email=email, first_name="I", last_name=str(i)).id

    def sent(self, user_id: uuid.UUID) -> tuple[uuid.UUID, float]:
        """(event id, when SNS accepted it: the relay's mark). moto delivers to the queue inside the
        publish call, so the event may be applied before the relay has written its mark: wait for it."""
        from hr_monolith.outbox.models import OutboxEvent

        deadline = time.monotonic() + 30
        while (row := OutboxEvent.objects.get(aggregate_id=str(user_id))).sent_at is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the outbox row of {user_id} not marked sent")
            time.sleep(LOOK_EVERY)
        return row.event_id, row.sent_at.timestamp()


class ReadModel:
    """The users service's read model, read straight from its database."""

    def __init__(self, stack: Pipeline) -> None:
        url = stack.env.get("USERS_DATABASE_URL", "")
        if url:
            import psycopg

            self.conn: Any = psycopg.connect(url, autocommit=True)
            self.sql = "SELECT updated_at FROM directory_userrecord WHERE id = %s"
            self.handoff_sql = "SELECT received_at, handed_at FROM bridge_handoff WHERE event_id = %s"
            self.key = str
        else:
            import sqlite3

            self.conn = sqlite3.connect(stack.workdir / USERS_SQLITE, isolation_level=None)
            self.sql = "SELECT updated_at FROM directory_userrecord WHERE id = ?"
            self.handoff_sql = "SELECT received_at, handed_at FROM bridge_handoff WHERE event_id = ?"
            self.key = lambda user_id: user_id.hex

    def wait_visible(self, user_id: uuid.UUID, timeout: float = 60) -> tuple[float, float]:
        """(when this process first saw the row, when the worker wrote it), epoch seconds."""
        deadline = time.monotonic() + timeout
        key = self.key(user_id)
        while time.monotonic() < deadline:
            row = self.conn.execute(self.sql, (key,)).fetchone()
            if row is not None:
                return time.time(), _epoch(row[0])
            time.sleep(LOOK_EVERY)
        raise TimeoutError(f"user {user_id} not visible after {timeout}s")

    def handed(self, event_id: uuid.UUID, timeout: float = 30) -> tuple[float, float]:
        """(when the bridge received the event's message, when the broker accepted its tasks). The
        bridge writes its hand-off row after the publish: the event may be applied before."""
        deadline = time.monotonic() + timeout
        while (row := self.conn.execute(self.handoff_sql, (self.key(event_id),)).fetchone()) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no hand-off row for event {event_id}")
            time.sleep(LOOK_EVERY)
        return _epoch(row[0]), _epoch(row[1])


def _epoch(value: Any) -> float:
    if isinstance(value, str):  # SQLite returns text
        from datetime import datetime

        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value.timestamp()


def relay_process(stack: Pipeline, mode: str) -> ManagedProcess:
    env = {**stack.env, "RELAY_WAKE": MODES[mode]}
    log_dir = stack.workdir / "log"
    process = ManagedProcess(f"hr-relay-{mode}", relay_command(), log_dir=log_dir, env=env, cwd=BASE_DIR)
    stack.processes.append(process)
    return process.start()


def one_create(monolith: Monolith, read_model: ReadModel, i: int) -> dict[str, float]:
    """The create's marks (HOPS), in ms after its commit."""
    user_id = monolith.create(i)
    committed = time.time()
    seen, written = read_model.wait_visible(user_id)
    event_id, sent = monolith.sent(user_id)
    received, handed = read_model.handed(event_id)
    marks = dict(zip(HOPS, (sent, received, handed, written, seen), strict=True))
    return {hop: (at - committed) * 1000 for hop, at in marks.items()}


def summary(samples: list[dict[str, float]]) -> dict[str, Any]:
    def p(values: list[float], pct: float) -> float:
        return round(percentile(values, pct), 1)

    visible = [sample["visible"] for sample in samples]
    sent = [sample["relay_published"] for sample in samples]
    sent_to_applied = [sample["worker_writing"] - sample["relay_published"] for sample in samples]
    return {
        "p50": p(visible, 50),
        "p99": p(visible, 99),
        "commit_to_sent_p50": p(sent, 50),
        "commit_to_sent_p99": p(sent, 99),
        "sent_to_applied_p50": p(sent_to_applied, 50),
        "sent_to_applied_p99": p(sent_to_applied, 99),
        "max": round(max(visible), 1),
        "creates": len(samples),
        "hops_ms_after_commit": {
            hop: {"p50": p(values, 50), "p99": p(values, 99)}
            for hop in HOPS
            if (values := [sample[hop] for sample in samples])
        },
    }


def idle_cpu(stack: Pipeline) -> dict[str, float]:
    """Each process's CPU in ms per second over IDLE_SECONDS without events (workers with their
    children)."""
    pids = {process.name: process.process.pid for process in stack.processes if process.running}
    before = cpu_seconds_of(pids)
    time.sleep(IDLE_SECONDS)
    after = cpu_seconds_of(pids)
    return {name: round((after[name] - before[name]) * 1000 / IDLE_SECONDS, 2) for name in pids}


def run_stack(name: str) -> dict[str, Any]:
    emulator, engine = STACKS[name]
    settings = {"RELAY_POLL_INTERVAL": POLL_INTERVAL, "LOG_LEVEL": "WARNING", "BRIDGE_THREADS": "2"}
    databases = BenchDatabases(sqlite=engine == "sqlite")
    with pipeline(emulator=emulator, databases=databases, **settings) as stack:
        stack.migrate()
        worker = [*MANAGE, "users", "run_worker", "events", "--loglevel", "WARNING"]
        stack.start({"users-bridge": bridge_command(), "users-worker-events": worker})
        monolith = Monolith(stack.env)
        read_model = ReadModel(stack)
        samples: dict[str, list[dict[str, float]]] = {mode: [] for mode in MODES}
        counter = 0
        for round_ in range(ROUNDS):
            for mode in MODES:
                relay = relay_process(stack, mode)
                # The first events also wait for the relay, bridge and worker to start.
                for _ in range(WARM_UP):
                    counter += 1
                    one_create(monolith, read_model, counter)
                for _ in range(CREATES // ROUNDS):
                    time.sleep(random.uniform(*PAUSE))
                    counter += 1
                    samples[mode].append(one_create(monolith, read_model, counter))
                relay.stop()
                log(f"latency_idle: {name} round {round_ + 1} {mode}: {summary(samples[mode])}")
        relay = relay_process(stack, "wake")
        # Started (and past its first passes) once it has relayed a create.
        counter += 1
        one_create(monolith, read_model, counter)
        time.sleep(1.0)
        idle = idle_cpu(stack)
        relay.stop()
        log(f"latency_idle: {name} idle CPU (ms/s): {idle}")
        return {
            "engine": engine,
            "emulator": emulator,
            **{mode: summary(samples[mode]) for mode in MODES},
            "idle_cpu_ms_per_s": idle,
        }


def stack_in_subprocess(name: str) -> dict[str, Any]:
    process = subprocess.run(
        [sys.executable, "-m", "bench.latency_idle", "--stack", name],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines = [line for line in process.stdout.splitlines() if line.strip()]
    if process.returncode != 0 or not lines:
        return {"error": f"exit {process.returncode}"}
    return json.loads(lines[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stack", choices=sorted(STACKS))
    args = parser.parse_args(argv)
    if args.stack:
        print(json.dumps(run_stack(args.stack)), flush=True)
        return 0
    stacks: dict[str, Any] = {}
    for name, (_, engine) in STACKS.items():
        if engine == "postgresql" and not postgres_answers():
            stacks[name] = {"error": "no PostgreSQL answers at BENCH_POSTGRES_URL"}
            continue
        log(f"latency_idle: stack {name}")
        stacks[name] = stack_in_subprocess(name)
    default = stacks[DEFAULT_STACK]
    if "error" in default:
        log(f"latency_idle: the default stack failed: {default['error']}")
        return 1
    wake, polling = default["wake"], default["polling"]
    emit(
        result(
            "latency_idle",
            unit="ms",
            value=wake["p50"],
            baseline=polling["p50"],
            ratio=polling["p50"] / wake["p50"],
            params={
                "creates": CREATES,
                "rounds": ROUNDS,
                "relay_poll_interval_s": float(POLL_INTERVAL),
                "pause_between_creates_s": list(PAUSE),
                "stack": DEFAULT_STACK,
                "visible": f"the row in the read model, looked for every {LOOK_EVERY * 1000:g} ms",
                "worker": "manage.py users run_worker events",
                "idle_cpu_seconds": IDLE_SECONDS,
            },
            p99=wake["p99"],
            baseline_p99=polling["p99"],
            stacks=stacks,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
