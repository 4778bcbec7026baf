"""The event pipeline as real processes that a fault test or the soak can break on purpose: the SNS/SQS
emulator, a broker Redis and a cache Redis, the monolith's relay, the users service's bridge and
workers by role, on SQLite or PostgreSQL; and the one check every fault ends with (`Convergence`):
each monolith user equals its read-model row, and each event was applied exactly once.

Processes are devstack's `ManagedProcess`; this module only adds what a fault needs: kill one,
restart one, freeze one, restart the emulator on the same port.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from devstack.moto import MotoServer
from devstack.processes import ManagedProcess, free_port, stop_all, wait_until
from devstack.redis import RedisServer
from devstack.stack import BASE_DIR, MANAGE, create_topology, manage, stack_env
from events import types
from events.aws import AwsSettings, client
from events.topology import Topology
from shared_settings.sqlite import HR_SQLITE, USERS_SQLITE

APPLY_TASK = "directory.apply_user_event"
#: Event types whose effect is one inbox row of APPLY_TASK (users_service/routing.py).
APPLIED_TYPES = (*sorted(types.USER_SNAPSHOT_TYPES), types.USER_ERASED)
#: Fields compared between a monolith user and its read-model row.
COMPARED = ("email", "first_name", "last_name", "is_active", "version")
#: Settings that make recovery fast enough to test: a received message comes back after 5 s, the
#: relay and the bridge retry within 2 s (a lost wake-up of the relay within 1 s), and the bridge
#: polls briefly.
FAST_RECOVERY = {
    "EVENTS_VISIBILITY_TIMEOUT": "5",
    "BRIDGE_HEARTBEAT_SECONDS": "2",
    "BRIDGE_WAIT_SECONDS": "1",
    "BRIDGE_MAX_BACKOFF_SECONDS": "2",
    "RELAY_MAX_BACKOFF": "2",
    "RELAY_POLL_INTERVAL": "0.05",
    "RELAY_WAKE_POLL_INTERVAL": "1",
    "LOG_LEVEL": "INFO",
}
#: No web monolith runs here: a resources warm fails at once (and retries) instead of calling whatever
#: listens on the default MONOLITH_URL.
NO_WEB_MONOLITH = {"MONOLITH_URL": "http://127.0.0.1:9"}
#: Where the broker keeps the events worker's reserved, unacked tasks (users_service/queues.py).
EVENTS_UNACKED_KEY = "unacked:events"
#: A Celery worker's line for a finished task: `Task <name>[<id>] succeeded in 0.01s: 'applied'`.
SUCCEEDED = re.compile(r"Task (?P<task>[\w.]+)\[(?P<id>[^\]]+)\] succeeded in [\d.e-]+s: '(?P<outcome>\w+)'")

PROCESS_COMMANDS: dict[str, list[str]] = {
    "relay": [*MANAGE, "hr", "relay_outbox"],
    "bridge": [*MANAGE, "users", "run_bridge"],
    "worker-events": [*MANAGE, "users", "run_worker", "events"],
    "worker-cache": [*MANAGE, "users", "run_worker", "cache"],
}


def _uuid(value: Any) -> str:
    return str(uuid.UUID(str(value)))


class Database:
    """Reads one service's database straight (the harness is neither service): SQLite or PostgreSQL."""

    def __init__(self, url: str, sqlite_path: Path) -> None:
        self.url = url
        self.sqlite_path = sqlite_path

    def rows(self, sql: str) -> list[tuple]:
        if self.url:
            import psycopg

            with psycopg.connect(self.url, autocommit=True) as connection:
                return connection.execute(sql).fetchall()
        connection = sqlite3.connect(self.sqlite_path, timeout=20)
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()


@dataclass
class Convergence:
    """Where the pipeline stands: users that differ from the monolith, events not applied, applied twice."""

    users: int
    differing: list[str]
    missing_events: set[str]
    unexpected_events: set[str]
    inbox_doubles: int
    applied_twice: list[str]
    #: Outcomes read from the workers' logs: none while events were applied means the check is blind.
    outcomes_seen: int

    @property
    def caught_up(self) -> bool:
        return not self.differing and not self.missing_events

    @property
    def doubled(self) -> int:
        return self.inbox_doubles + len(self.applied_twice)

    def summary(self) -> str:
        return (
            f"{self.users} users, {len(self.differing)} differ, "
            f"{len(self.missing_events)} events not applied, "
            f"{len(self.unexpected_events)} unexpected, {self.inbox_doubles} inbox doubles, "
            f"{len(self.applied_twice)} applied twice"
        )


@dataclass
class FaultStack:
    workdir: Path
    env: dict[str, str]
    emulator: ManagedProcess
    broker: RedisServer
    cache: RedisServer
    hr_db: Database
    users_db: Database
    topology: Topology
    #: A process of the monolith's own (its settings, its database) that commits through its services.
    monolith: ProcessPoolExecutor | None
    processes: dict[str, ManagedProcess] = field(default_factory=dict)
    #: Events put on the queue by a test itself (not from the outbox) that must be applied once.
    injected_events: set[str] = field(default_factory=set)
    _process_serial: Counter = field(default_factory=Counter)

    # --- processes -----------------------------------------------------------------------------

    def start(self, name: str, command: list[str] | None = None) -> ManagedProcess:
        """Start `name` (one of PROCESS_COMMANDS, or `command`); a restarted process logs to a new file."""
        self._process_serial[name] += 1
        serial = self._process_serial[name]
        process = ManagedProcess(
            name if serial == 1 else f"{name}.{serial}",
            command or PROCESS_COMMANDS[name],
            log_dir=self.workdir / "log",
            env=self.env,
            cwd=BASE_DIR,
        ).start()
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        """`kill -9` of the process's whole group, as a container runtime does; waits until it is gone."""
        process = self.processes[name]
        process.signal(signal.SIGKILL)
        process.process.wait(10)
        process.stop()

    def restart(self, name: str) -> ManagedProcess:
        self.kill(name)
        return self.start(name)

    def logs(self, lines: int = 20) -> str:
        servers = {"emulator": self.emulator, "broker": self.broker, "cache": self.cache}
        every = {**servers, **self.processes}
        return "\n".join(f"--- {name}\n{process.log_tail(lines)}" for name, process in every.items())

    def worker_ready(self, name: str = "worker-events", *, timeout: float = 60) -> None:
        process = self.processes[name]
        wait_until(
            lambda: " ready." in process.log_path.read_text(errors="replace"), timeout=timeout, what=name
        )

    # --- the emulator ----------------------------------------------------------------------------

    def queue_depth(self) -> int:
        """Messages in the events queue, visible or in flight."""
        sqs = client("sqs", AwsSettings.from_env(self.env))
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attributes = sqs.get_queue_attributes(QueueUrl=self.topology.queue_url, AttributeNames=names)
        return sum(int(attributes["Attributes"][name]) for name in names)

    def stop_emulator(self, *, timeout: float = 60) -> None:
        """Stop the emulator once its queue is empty. The emulators forget every message when they stop
        (AWS would keep them through an outage), so the relay is frozen until the bridge has taken what
        is queued: the outage then costs the pipeline its reach, not the emulator's memory."""
        relay = self.processes.get("relay")
        if relay is not None and relay.running:
            relay.signal(signal.SIGSTOP)
        try:
            drained = lambda: self.queue_depth() == 0  # noqa: E731
            wait_until(drained, timeout=timeout, what="the queue drained", interval=0.2)
            self.emulator.stop()
        finally:
            if relay is not None and relay.running:
                relay.signal(signal.SIGCONT)

    def start_emulator(self) -> None:
        """Start the emulator again on its port and recreate the topology: moto keeps its state only in
        memory. The relay is frozen meanwhile: between `create_topic` and `subscribe` a publish would be
        accepted and delivered nowhere (SNS drops what no subscription takes), which is the emulator's
        restart, not a fault of the pipeline."""
        relay = self.processes.get("relay")
        if relay is not None and relay.running:
            relay.signal(signal.SIGSTOP)
        try:
            self.emulator.start()
            self.topology = create_topology(self.env)
        finally:
            if relay is not None and relay.running:
                relay.signal(signal.SIGCONT)

    # --- the monolith ----------------------------------------------------------------------------

    def create_users(self, count: int, *, tag: str) -> list[str]:
        """`count` users through the monolith's service (one transaction and outbox row each)."""
        return self._monolith().submit(_create_users, count, tag).result()

    def update_users(self, ids: list[str], *, first_name: str) -> None:
        self._monolith().submit(_update_users, ids, first_name).result()

    def _monolith(self) -> ProcessPoolExecutor:
        if self.monolith is None:
            raise RuntimeError("this stack has no monolith process (fault_stack(monolith_process=False))")
        return self.monolith

    # --- what the pipeline did -------------------------------------------------------------------

    def outbox_events(self) -> set[str]:
        placeholders = ", ".join(f"'{t}'" for t in APPLIED_TYPES)
        rows = self.hr_db.rows(
            f"SELECT event_id FROM outbox_outboxevent WHERE event_type IN ({placeholders})"
        )
        return {_uuid(row[0]) for row in rows}

    def outbox_events_of(self, user_id: str) -> list[str]:
        """The ids of one user's events, in the order the monolith wrote them."""
        rows = self.hr_db.rows(
            f"SELECT event_id FROM outbox_outboxevent WHERE aggregate_id = '{user_id}' ORDER BY id"
        )
        return [_uuid(row[0]) for row in rows]

    def applied_count(self) -> int:
        sql = f"SELECT count(*) FROM directory_inboxentry WHERE task_name = '{APPLY_TASK}'"
        return self.users_db.rows(sql)[0][0]

    def worker_outcomes(self) -> Counter:
        """(task id, outcome) → how many times a worker reported it, from every events worker's log."""
        seen: Counter = Counter()
        for path in (self.workdir / "log").glob("worker-events*.log"):
            for match in SUCCEEDED.finditer(path.read_text(errors="replace")):
                if match["task"] == APPLY_TASK:
                    seen[(match["id"], match["outcome"])] += 1
        return seen

    def convergence(self) -> Convergence:
        monolith = {
            _uuid(row[0]): tuple(row[1:])
            for row in self.hr_db.rows(f"SELECT id, {', '.join(COMPARED)} FROM people_user")
        }
        read_model = {
            _uuid(row[0]): tuple(row[1:])
            for row in self.users_db.rows(
                f"SELECT id, {', '.join(COMPARED)} FROM directory_userrecord WHERE NOT erased"
            )
        }
        differing = [
            user_id
            for user_id in monolith.keys() | read_model.keys()
            if _normalise(monolith.get(user_id)) != _normalise(read_model.get(user_id))
        ]
        inbox = Counter(
            _uuid(row[0])
            for row in self.users_db.rows(
                f"SELECT event_id FROM directory_inboxentry WHERE task_name = '{APPLY_TASK}'"
            )
        )
        expected = self.outbox_events() | self.injected_events
        outcomes = self.worker_outcomes()
        applied_twice = [
            task_id for (task_id, outcome), count in outcomes.items() if outcome == "applied" and count > 1
        ]
        return Convergence(
            users=len(monolith),
            differing=differing,
            missing_events=expected - inbox.keys(),
            unexpected_events=inbox.keys() - expected,
            inbox_doubles=sum(count - 1 for count in inbox.values()),
            applied_twice=applied_twice,
            outcomes_seen=sum(outcomes.values()),
        )

    def wait_converged(self, *, timeout: float = 60) -> Convergence:
        """Until every user is current and every event applied; then nothing may be doubled or unknown."""
        last: list[Convergence] = []

        def caught_up() -> bool:
            last[:] = [self.convergence()]
            return last[0].caught_up

        try:
            wait_until(caught_up, timeout=timeout, what="convergence", interval=0.5)
        except TimeoutError as exc:
            summary = last[0].summary() if last else "nothing read"
            raise AssertionError(f"not converged after {timeout:.0f}s: {summary}\n{self.logs()}") from exc
        state = last[0]
        if state.users and not state.outcomes_seen:
            raise AssertionError(
                f"no task outcome in the workers' logs: cannot tell applied twice\n{self.logs()}"
            )
        if state.doubled or state.unexpected_events:
            raise AssertionError(f"converged with a defect: {state.summary()}\n{self.logs()}")
        return state


def _monolith_process(env: dict[str, str]) -> None:
    """The monolith's process: its environment, its settings, Django set up once."""
    os.environ.clear()
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "hr_monolith.settings"
    import django

    django.setup()


def _create_users(count: int, tag: str) -> list[str]:
    from hr_monolith.people import services

    users = [
        services.user_create(email=f"{tag}-{i}@example.com", first_name="F", last_name=str(i))
        for i in range(count)
    ]
    return [str(user.id) for user in users]


def _update_users(ids: list[str], first_name: str) -> None:
    from hr_monolith.people import services

    for user_id in ids:
        services.user_update(user_id=user_id, data={"first_name": first_name})


def _normalise(row: tuple | None) -> tuple | None:
    """SQLite gives booleans as 0/1, PostgreSQL as bool."""
    return None if row is None else tuple(int(v) if isinstance(v, bool) else v for v in row)


@contextmanager
def fault_stack(
    workdir: Path,
    *,
    emulator: Callable[[int, Path], ManagedProcess] = MotoServer,
    database_urls: dict[str, str] | None = None,
    monolith_process: bool = True,
    **settings: str,
) -> Iterator[FaultStack]:
    """Emulator and two Redis servers on free ports, migrated databases (SQLite under `workdir`
    unless `database_urls` names PostgreSQL ones for `hr`/`users`), the topology; no pipeline
    process yet (`FaultStack.start`), and unless `monolith_process` is false a process of the
    monolith's own for `create_users`/`update_users`. Everything is stopped on exit."""
    servers: list[ManagedProcess] = []
    stack: FaultStack | None = None
    try:
        server = emulator(free_port(), workdir / "log").start()
        servers.append(server)
        broker = RedisServer(free_port(), workdir / "broker").start()
        servers.append(broker)
        cache = RedisServer(free_port(), workdir / "cache").start()
        servers.append(cache)
        urls = database_urls or {}
        env = stack_env(
            aws_endpoint=server.url,
            redis_url=broker.url,
            VAR_DIR=str(workdir),
            CACHE_REDIS_URL=cache.database_url(0),
            CELERY_BROKER_URL=broker.database_url(0),
            **{**FAST_RECOVERY, **NO_WEB_MONOLITH, **settings},
        )
        for variable, service in (("DATABASE_URL", "hr"), ("USERS_DATABASE_URL", "users")):
            env.pop(variable, None)
            if urls.get(service):
                env[variable] = urls[service]
        topology = create_topology(env)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda service: manage(service, "migrate", "--noinput", env=env), ("hr", "users")))
        monolith = None
        if monolith_process:
            monolith = ProcessPoolExecutor(
                1, mp_context=get_context("spawn"), initializer=_monolith_process, initargs=(env,)
            )
            monolith.submit(int)  # start it (Django set up) while the caller starts the pipeline
        stack = FaultStack(
            workdir=workdir,
            env=env,
            emulator=server,
            broker=broker,
            cache=cache,
            hr_db=Database(urls.get("hr", ""), workdir / HR_SQLITE),
            users_db=Database(urls.get("users", ""), workdir / USERS_SQLITE),
            topology=topology,
            monolith=monolith,
        )
        yield stack
    finally:
        if stack is not None:
            if stack.monolith is not None:
                stack.monolith.shutdown(cancel_futures=True)
            stop_all(list(stack.processes.values()))
        for server in reversed(servers):
            # The emulator may have been restarted: stop whatever runs under that object now.
            server.stop()


def process_rss_kib(pid: int) -> int:
    """Resident memory of `pid` and its children (a prefork worker's pool), from /proc."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(child) for child in children]
    except OSError:
        pass
    for one in pids:
        try:
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total
