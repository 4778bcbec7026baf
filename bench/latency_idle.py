"""Benchmark `latency_idle`: how long one user created in the monolith takes to be visible in the
users service's read model, one create at a time on an otherwise idle stack, with the relay woken
on commit against the relay that only polls (its default 0.2 s interval).

    python -m bench.latency_idle          # or: make bench B=latency_idle

Two stacks, each in a process of its own (Django is set up once per process): the default one of
`make run` (SQLite, moto server; the relay wakes on a Redis nudge) and PostgreSQL + LocalStack (the
relay LISTENs). On each, the same bridge and worker serve both relays; the relays take turns in
rounds, so a change in the machine's load falls on both. `value` is the default stack's p50 with the
wake-up, `baseline` the polling relay's p50 on the same stack, `ratio` baseline / value.
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
from bench._pipeline import Pipeline, bridge_command, pipeline, relay_command, users_worker_command
from bench.common import emit, log, percentile, result
from devstack.processes import ManagedProcess
from devstack.stack import BASE_DIR

CREATES = int(os.environ.get("LATENCY_IDLE_CREATES", "20"))
ROUNDS = 2
WARM_UP = 3
#: The relay's default idle poll (hr_monolith settings), the baseline's only way to notice a row.
POLL_INTERVAL = "0.2"
#: How often the bench looks for the new user in the read model (the figure's resolution).
LOOK_EVERY = 0.002
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

    def sent_at(self, user_id: uuid.UUID) -> float:
        """When the relay marked the row sent. moto delivers to the queue inside the publish call, so
        the event may be applied before the relay has written its mark: wait for it."""
        from hr_monolith.outbox.models import OutboxEvent

        deadline = time.monotonic() + 30
        while (sent := OutboxEvent.objects.get(aggregate_id=str(user_id)).sent_at) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the outbox row of {user_id} not marked sent")
            time.sleep(LOOK_EVERY)
        return sent.timestamp()


class ReadModel:
    """The users service's read model, read straight from its database."""

    def __init__(self, stack: Pipeline) -> None:
        url = stack.env.get("USERS_DATABASE_URL", "")
        if url:
            import psycopg

            self.conn: Any = psycopg.connect(url, autocommit=True)
            self.sql = "SELECT updated_at FROM directory_userrecord WHERE id = %s"
            self.key = str
        else:
            import sqlite3

            self.conn = sqlite3.connect(stack.workdir / "users.sqlite3", isolation_level=None)
            self.sql = "SELECT updated_at FROM directory_userrecord WHERE id = ?"
            self.key = lambda user_id: user_id.hex

    def wait_visible(self, user_id: uuid.UUID, timeout: float = 60) -> tuple[float, float]:
        """(when this process first saw the row, when the worker wrote it), epoch seconds."""
        deadline = time.monotonic() + timeout
        key = self.key(user_id)
        while time.monotonic() < deadline:
            row = self.conn.execute(self.sql, (key,)).fetchone()
            if row is not None:
                seen = time.time()
                written = row[0]
                if isinstance(written, str):  # SQLite returns text
                    from datetime import datetime

                    written = datetime.fromisoformat(written.replace("Z", "+00:00"))
                return seen, written.timestamp()
            time.sleep(LOOK_EVERY)
        raise TimeoutError(f"user {user_id} not visible after {timeout}s")


def relay_process(stack: Pipeline, mode: str) -> ManagedProcess:
    env = {**stack.env, "RELAY_WAKE": MODES[mode]}
    log_dir = stack.workdir / "log"
    process = ManagedProcess(f"hr-relay-{mode}", relay_command(), log_dir=log_dir, env=env, cwd=BASE_DIR)
    stack.processes.append(process)
    return process.start()


def one_create(monolith: Monolith, read_model: ReadModel, i: int) -> dict[str, float]:
    user_id = monolith.create(i)
    committed = time.time()
    seen, written = read_model.wait_visible(user_id)
    sent = monolith.sent_at(user_id)
    return {
        "visible": (seen - committed) * 1000,
        "commit_to_sent": (sent - committed) * 1000,
        "sent_to_applied": (written - sent) * 1000,
    }


def summary(samples: list[dict[str, float]]) -> dict[str, float]:
    figures: dict[str, float] = {}
    for part in ("visible", "commit_to_sent", "sent_to_applied"):
        values = [sample[part] for sample in samples]
        prefix = "" if part == "visible" else f"{part}_"
        figures[f"{prefix}p50"] = round(percentile(values, 50), 1)
        figures[f"{prefix}p99"] = round(percentile(values, 99), 1)
    figures["max"] = round(max(sample["visible"] for sample in samples), 1)
    figures["creates"] = len(samples)
    return figures


def run_stack(name: str) -> dict[str, Any]:
    emulator, engine = STACKS[name]
    settings = {"RELAY_POLL_INTERVAL": POLL_INTERVAL, "LOG_LEVEL": "WARNING", "BRIDGE_THREADS": "2"}
    databases = BenchDatabases(sqlite=engine == "sqlite")
    with pipeline(emulator=emulator, databases=databases, **settings) as stack:
        stack.migrate()
        worker = users_worker_command(pool="threads", concurrency=4, queues="events", loglevel="WARNING")
        stack.start({"users-bridge": bridge_command(), "users-worker": worker})
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
        return {"engine": engine, "emulator": emulator, **{mode: summary(samples[mode]) for mode in MODES}}


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
                "visible": "the row in the users service's read model, looked for every 2 ms",
            },
            p99=wake["p99"],
            baseline_p99=polling["p99"],
            stacks=stacks,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
