"""Benchmark `burst_lag`: seconds from the last API call of a burst until every user is current in the
users service, on the embedded stack of `make run` (Redis, SQLite, the same processes) right after the
demo data is loaded, with LocalStack for SNS/SQS.

    python -m bench.burst_lag          # or: make bench B=burst_lag

The burst: BURST_USERS creates, each followed by a patch of the same user, from BURST_CLIENTS clients
over BURST_SECONDS, through the monolith's REST API. Every create fans out an event apply (queue
`events`) and a resources warm (queue `cache`, one slow monolith call each); the demo data's 200
users and 400 grants are still in flight when it starts.

`value`: the Procfile's workers, one per queue role (`manage.py users run_worker <role>`).
`baseline`: the former single worker, threads pool with 8 threads on all three queues.
Both run the same burst on a fresh stack, one after the other in this run; ratio = baseline / value.
While it waits, the bench logs where the events are (outbox, SQS, broker) to stderr.

Why LocalStack and not `make run`'s moto server (BURST_EMULATOR=moto runs that): moto slows as its
queue deepens (FIELD-NOTES). Measured here, the burst put up to ~800 messages in its queue and the
bridge drained them at ~10 a second in both layouts, the broker stayed empty, and the lag (63-113 s)
was moto's, not the workers'. LocalStack keeps up, so the workers decide the lag.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis as redis_client
import requests

from bench.common import emit, log, result
from devstack.localstack import LocalStackServer
from devstack.moto import MotoServer
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import (
    BASE_DIR,
    MANAGE,
    create_topology,
    ensure_admin,
    ensure_service_account,
    manage,
    stack_env,
)
from events.aws import AwsSettings, client
from events.topology import TopologyNames
from shared_settings.sqlite import HR_SQLITE, USERS_SQLITE

BURST_USERS = int(os.environ.get("BURST_USERS", "300"))
BURST_CLIENTS = int(os.environ.get("BURST_CLIENTS", "8"))
BURST_SECONDS = float(os.environ.get("BURST_SECONDS", "10"))
#: `localstack` (started natively) or `moto` (the server `make run` uses; see the module docstring).
EMULATOR = os.environ.get("BURST_EMULATOR", "localstack")
#: The single worker the Procfile ran before the queue roles.
BASELINE_WORKER = (
    "celery -A users_service worker --pool threads --concurrency 8 --queues events,cache,reports"
    " --loglevel INFO"
)
POLL_SECONDS = 0.25
#: How often the bench logs where the events are while it waits.
PROGRESS_SECONDS = 3.0
WAIT_TIMEOUT = 600


def role_workers() -> dict[str, str]:
    """The Procfile's worker processes: {name: command}."""
    lines = (BASE_DIR / "Procfile").read_text().splitlines()
    processes = dict(line.split(": ", 1) for line in lines if line.strip())
    return {name: command for name, command in processes.items() if name.startswith("users-worker")}


class Versions:
    """Each user's version in the monolith and in the users service, read from their SQLite files."""

    def __init__(self, workdir: Path) -> None:
        self.hr = sqlite3.connect(workdir / HR_SQLITE)
        self.users = sqlite3.connect(workdir / USERS_SQLITE)

    @staticmethod
    def _read(connection: sqlite3.Connection, table: str) -> dict[str, int]:
        rows = connection.execute(f"SELECT id, version FROM {table}").fetchall()
        return {uuid.UUID(str(user_id)).hex: version for user_id, version in rows}

    def stale(self) -> int:
        """Users whose newest version has not reached the users service yet."""
        upstream = self._read(self.hr, "people_user")
        local = self._read(self.users, "directory_userrecord")
        return sum(1 for user_id, version in upstream.items() if local.get(user_id, 0) < version)

    def outbox_pending(self) -> int:
        return self.hr.execute("SELECT count(*) FROM outbox_outboxevent WHERE sent_at IS NULL").fetchone()[0]

    def close(self) -> None:
        self.hr.close()
        self.users.close()


class Where:
    """Where the events are while the bench waits (stderr): outbox, SQS, broker, stale users."""

    def __init__(self, env: dict, versions: Versions) -> None:
        aws = AwsSettings.from_env(env)
        self.sqs = client("sqs", aws)
        self.queue_url = self.sqs.get_queue_url(QueueName=TopologyNames.from_env(env).queue)["QueueUrl"]
        self.broker = redis_client.Redis.from_url(env["CELERY_BROKER_URL"])
        self.versions = versions
        self.last = 0.0

    def broker_backlog(self) -> dict[str, int]:
        return {queue: self.broker.llen(queue) for queue in ("events", "cache", "reports")}

    def log_every(self, seconds: float, label: str) -> None:
        if time.monotonic() - self.last < seconds:
            return
        self.last = time.monotonic()
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        visible, in_flight = (
            attributes["ApproximateNumberOfMessages"],
            attributes["ApproximateNumberOfMessagesNotVisible"],
        )
        log(
            f"burst_lag: [{label}]   outbox {self.versions.outbox_pending()}, SQS {visible}+{in_flight}, "
            f"broker {self.broker_backlog()}, stale users {self.versions.stale()}"
        )


def burst(monolith_url: str, token: str) -> tuple[float, float]:
    """Create and patch BURST_USERS users, paced over BURST_SECONDS; returns when the last call ended
    (time.monotonic()) and how long sending took (a busy monolith stretches BURST_SECONDS)."""
    started = time.monotonic()
    spacing = BURST_SECONDS / BURST_USERS
    last_sent = [0.0]
    lock = threading.Lock()

    def client(first: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Token {token}"
        for index in range(first, BURST_USERS, BURST_CLIENTS):
            delay = started + index * spacing - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            email = f"burst-{index}-{uuid.uuid4().hex[:6]}@example.com"
            created = session.post(
                f"{monolith_url}/api/users/",
                json={"email": email, "first_name": "Burst", "last_name": f"N{index}", "department": "ENG"},
                timeout=30,
            )
            created.raise_for_status()
            patched = session.patch(
                f"{monolith_url}/api/users/{created.json()['id']}/", json={"last_name": "Patched"}, timeout=30
            )
            patched.raise_for_status()
            with lock:
                last_sent[0] = max(last_sent[0], time.monotonic())

    with ThreadPoolExecutor(BURST_CLIENTS) as pool:
        list(pool.map(client, range(BURST_CLIENTS)))
    log(f"burst_lag:   {BURST_USERS} creates + {BURST_USERS} patches sent in {last_sent[0] - started:.1f}s")
    return last_sent[0], last_sent[0] - started


def lag_with(workers: dict[str, str], label: str) -> dict[str, float]:
    """One fresh stack with these worker processes: the burst, then seconds until all users are current."""
    workdir = Path(tempfile.mkdtemp(prefix=f"bench-burst-{label}-"))
    owned: list[ManagedProcess] = []
    try:
        emulator = (LocalStackServer if EMULATOR == "localstack" else MotoServer)(
            free_port(), log_dir=workdir / "log"
        ).start()
        owned.append(emulator)
        redis = RedisServer(free_port(), workdir / "redis").start()
        owned.append(redis)
        hr_port = free_port()
        monolith_url = f"http://127.0.0.1:{hr_port}"
        env = stack_env(
            aws_endpoint=emulator.url, redis_url=redis.url, VAR_DIR=str(workdir), MONOLITH_URL=monolith_url
        )
        for name in ("DATABASE_URL", "USERS_DATABASE_URL"):
            env.pop(name, None)  # SQLite, as `make run`
        create_topology(env)
        manage("hr", "migrate", "--noinput", env=env)
        manage("users", "migrate", "--noinput", env=env)
        token = ensure_admin("hr", username="admin", password="bench", env=env)
        env["MONOLITH_API_TOKEN"] = ensure_service_account("hr", username="users-service", env=env)
        manage("hr", "load_demo_data", env=env)

        commands = {
            "hr-web": [*MANAGE, "hr", "runserver", f"127.0.0.1:{hr_port}", "--noreload"],
            "hr-relay": [*MANAGE, "hr", "relay_outbox"],
            "users-bridge": [*MANAGE, "users", "run_bridge"],
            **{name: shlex.split(command) for name, command in workers.items()},
        }
        for name, command in commands.items():
            owned.append(
                ManagedProcess(name, command, log_dir=workdir / "log", env=env, cwd=BASE_DIR).start()
            )
        wait_until(lambda: _answers(f"{monolith_url}/health/"), timeout=60, what="monolith")
        log(f"burst_lag: [{label}] stack up ({', '.join(workers)}), demo data in flight; burst starts")

        versions = Versions(workdir)
        where = Where(env, versions)
        try:
            last_sent, sending = burst(monolith_url, token)
            backlog = where.broker_backlog()

            def current() -> bool:
                where.log_every(PROGRESS_SECONDS, label)
                return versions.stale() == 0

            wait_until(current, timeout=WAIT_TIMEOUT, what="every user current", interval=POLL_SECONDS)
            lag = time.monotonic() - last_sent
        finally:
            versions.close()
        log(
            f"burst_lag: [{label}] every user current {lag:.1f}s after the last send; "
            f"broker backlog then {backlog}"
        )
        return {
            "lag": lag,
            "sent_in": sending,
            **{f"backlog_{queue}": float(n) for queue, n in backlog.items()},
        }
    finally:
        for process in reversed(owned):
            process.stop()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code < 500
    except requests.RequestException:
        return False


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # the stack's processes are stopped on the way out


def main() -> int:
    if EMULATOR not in ("moto", "localstack"):
        raise SystemExit(f"BURST_EMULATOR must be moto or localstack, not {EMULATOR!r}")
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    roles = role_workers()
    measured = lag_with(roles, "roles")
    baseline = lag_with({"users-worker": BASELINE_WORKER}, "single worker")
    emit(
        result(
            "burst_lag",
            unit="s",
            value=measured["lag"],
            baseline=baseline["lag"],
            ratio=baseline["lag"] / measured["lag"],
            params={
                "users": BURST_USERS,
                "clients": BURST_CLIENTS,
                "seconds": BURST_SECONDS,
                "database": "sqlite",
                "emulator": EMULATOR,
                "workers": roles,
                "baseline_worker": BASELINE_WORKER,
                "sent_in_seconds": {
                    "roles": round(measured["sent_in"], 1),
                    "single worker": round(baseline["sent_in"], 1),
                },
                "broker_backlog_at_last_send": {
                    "roles": {k: v for k, v in measured.items() if k.startswith("backlog_")},
                    "single worker": {k: v for k, v in baseline.items() if k.startswith("backlog_")},
                },
            },
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
