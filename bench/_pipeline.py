"""The whole pipeline as real processes, for the end-to-end benchmark: LocalStack and Redis on free
ports, two databases of its own, the monolith's relay, the users service's bridge and Celery workers,
and the read model they fill, read straight from its database."""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bench._databases import BenchDatabases
from bench.common import log
from devstack.development import PLAIN_HTTP_ENV
from devstack.localstack import LocalStackServer
from devstack.moto import MotoServer
from devstack.processes import ManagedProcess, free_port, wait_until
from devstack.redis import RedisServer
from devstack.stack import BASE_DIR, MANAGE, create_topology, manage, stack_env
from events.aws import AwsSettings
from events.topology import Topology

CELERY = str(Path(sys.executable).parent / "celery")


def users_worker_command(
    *,
    pool: str,
    concurrency: int,
    queues: str,
    loglevel: str,
    hostname: str | None = None,
    heartbeat: bool = True,
) -> list[str]:
    """`celery worker` of the users service, without the cluster chatter a benchmark does not need."""
    command = [CELERY, "-A", "users_service", "worker", "--pool", pool, "--concurrency", str(concurrency)]
    command += ["--queues", queues, "--without-gossip", "--without-mingle"]
    if not heartbeat:
        command.append("--without-heartbeat")
    if hostname:
        command += ["--hostname", hostname]
    return [*command, "--loglevel", loglevel]


@dataclass
class Pipeline:
    workdir: Path
    env: dict[str, str]
    topology: Topology
    databases: BenchDatabases
    processes: list[ManagedProcess] = field(default_factory=list)

    @property
    def aws(self) -> AwsSettings:
        return AwsSettings.from_env(self.env)

    def migrate(self) -> None:
        manage("hr", "migrate", "--noinput", env=self.env)
        manage("users", "migrate", "--noinput", env=self.env)

    def start(self, commands: dict[str, list[str]], env: dict[str, dict[str, str]] | None = None) -> None:
        """Start each named command with the stack's environment (and `env[name]` on top of it)."""
        for name, command in commands.items():
            process_env = {**self.env, **(env or {}).get(name, {})}
            log_dir = self.workdir / "log"
            process = ManagedProcess(name, command, log_dir=log_dir, env=process_env, cwd=BASE_DIR)
            self.processes.append(process.start())

    def pids(self) -> dict[str, int]:
        return {p.name: p.process.pid for p in self.processes if p.process is not None}


def relay_command() -> list[str]:
    return [*MANAGE, "hr", "relay_outbox"]


def bridge_command() -> list[str]:
    return [*MANAGE, "users", "run_bridge"]


@contextmanager
def pipeline(
    *, emulator: str = "localstack", databases: BenchDatabases | None = None, **settings: str
) -> Iterator[Pipeline]:
    """The emulator (LocalStack, or the moto server of `make run`), Redis, databases (PostgreSQL,
    else SQLite) and the topology; every process (these servers first, then those started through
    `Pipeline.start`) is stopped after, with its last log lines shown if anything failed."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    databases = databases or BenchDatabases.postgres_or_sqlite()
    processes: list[ManagedProcess] = []
    try:
        log(f"bench: database {databases.engine}, {emulator} and Redis on free ports, work dir {workdir}")
        server: LocalStackServer | MotoServer
        if emulator == "moto":
            server = MotoServer(free_port(), workdir / "log").start()
        else:
            server = LocalStackServer(free_port(), log_dir=workdir / "log").start()
        processes.append(server)
        redis = RedisServer(free_port(), workdir / "redis").start()
        processes.append(redis)
        # Production mode (no query log kept in every process), served over plain HTTP on 127.0.0.1,
        # as the cache benchmarks run; a caller's settings come on top.
        production = {"DJANGO_DEBUG": "false", **PLAIN_HTTP_ENV}
        env = stack_env(
            aws_endpoint=server.url, redis_url=redis.url, VAR_DIR=str(workdir), **{**production, **settings}
        )
        # SQLite files in the work directory unless this run's PostgreSQL databases are used.
        for variable, service in (("DATABASE_URL", "hr"), ("USERS_DATABASE_URL", "users")):
            env.pop(variable, None)
            if url := databases.url(service):
                env[variable] = url
        yield Pipeline(workdir, env, create_topology(env), databases, processes)
    except Exception:
        for process in processes:
            log(f"--- {process.name}\n{process.log_tail(15)}")
        raise
    finally:
        for process in reversed(processes):
            process.stop()
        databases.drop()


def monolith_in_process(env: dict[str, str], **overrides: str) -> None:
    """Set this process up as the monolith's process of the stack `env` (its databases, its log level,
    every setting the stack's processes get), with `overrides` on top, and Django with it."""
    os.environ.update(env)
    os.environ.update(overrides)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hr_monolith.settings"
    import django

    django.setup()


def _epoch(value: Any) -> float:
    if isinstance(value, str):  # SQLite returns text
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return value.timestamp()


class ReadModel:
    """Reads the users service's read model straight from its database (the bench is not a service)."""

    def __init__(self, url: str, sqlite_path: Path) -> None:
        if url:
            import psycopg

            self.conn = psycopg.connect(url, autocommit=True)
            self.backend_pid: int | None = self.conn.info.backend_pid
        else:
            import sqlite3

            self.conn = sqlite3.connect(sqlite_path, check_same_thread=False)
            self.backend_pid = None

    def applied_count(self) -> int:
        return self.conn.execute("SELECT count(*) FROM directory_userrecord").fetchone()[0]

    def applied_at(self) -> dict[str, float]:
        """id → when the worker wrote it (epoch seconds, from `updated_at`)."""
        rows = self.conn.execute("SELECT id, updated_at FROM directory_userrecord").fetchall()
        return {str(uuid.UUID(str(row[0]))): _epoch(row[1]) for row in rows}

    def close(self) -> None:
        self.conn.close()

    def wait_applied(
        self, total: int, *, timeout: float, interval: float, progress: str | None = None
    ) -> None:
        """Until `total` users are in the read model; with `progress` (the broker URL), log where events
        are: relayed to SNS, waiting in the Redis broker, applied (stderr)."""
        import redis

        from hr_monolith.outbox.models import OutboxEvent

        last_log = [0.0]

        def done() -> bool:
            applied = self.applied_count()
            if progress and time.monotonic() - last_log[0] > 1:
                last_log[0] = time.monotonic()
                sent = OutboxEvent.objects.filter(sent_at__isnull=False).count()
                queued = redis.Redis.from_url(progress).llen("events")
                log(f"e2e:   relayed {sent}, in the broker {queued}, applied {applied}")
            return applied >= total

        wait_until(done, timeout=timeout, what=f"{total} applied", interval=interval)
