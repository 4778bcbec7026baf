"""Benchmark `reads_under_lock`: catalogue and resources reads through the users service against
the monolith's own endpoints while a writer holds an ACCESS EXCLUSIVE lock on the monolith's
catalogue and user tables, 5 s at a time (what a long migration or a bulk import does).

    python -m bench.reads_under_lock          # or: make bench B=reads_under_lock

Both services on PostgreSQL (BENCH_POSTGRES_URL, two throw-away databases) under gunicorn, the
users service's cache warm. Client threads (http.client, one kept-alive connection each) read both
services side by side for the whole run while the writer alternates LOCKED_SECONDS locked and
UNLOCKED_SECONDS free; each request counts in the phase it started in. `value` is the users
service's p99 during the locks (ms), `baseline` the monolith's, `ratio` baseline / value;
requests/s locked and unlocked for both; `cores_busy`: the cores each process (this one is
`bench_client`) and the whole machine kept busy in each phase, others' work included.
The monolith's resources endpoint answers without its artificial delay here
(RESOURCES_LATENCY_MS=0): what is measured is the database, not a sleep.
"""

from __future__ import annotations

import http.client
import os
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests

from bench._cache_stack import CacheStack, cache_stack
from bench._databases import BenchDatabases, postgres_answers
from bench.common import CpuMeter, emit, log, percentile, result

LOCKED_SECONDS = float(os.environ.get("READS_UNDER_LOCK_LOCKED_SECONDS", "5"))
UNLOCKED_SECONDS = float(os.environ.get("READS_UNDER_LOCK_UNLOCKED_SECONDS", "5"))
CYCLES = int(os.environ.get("READS_UNDER_LOCK_CYCLES", "3"))
#: Reading threads per service.
THREADS = int(os.environ.get("READS_UNDER_LOCK_THREADS", "4"))
EMPLOYEES = 50
#: This process's name in the CPU figures.
BENCH_CLIENT = "bench_client"
#: A read that waits longer is counted at this latency, as a failure.
TIMEOUT_SECONDS = 30.0
#: The monolith's tables the writer locks: its catalogues and its users.
LOCKED_TABLES_SQL = (
    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
    "AND (tablename LIKE 'catalogue\\_%' OR tablename = 'people_user') ORDER BY tablename"
)


@dataclass(frozen=True)
class Read:
    started: float
    ms: float
    ok: bool

    @property
    def ended(self) -> float:
        return self.started + self.ms / 1000


def machine_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy so far, every process's (/proc/stat): on a shared
    machine, the others' work too."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


class Writer(threading.Thread):
    """Locks the tables LOCKED_SECONDS, frees them UNLOCKED_SECONDS, CYCLES times; records when, and
    the CPU each process (and the machine) spent in each phase."""

    def __init__(self, url: str, meter: CpuMeter) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.meter = meter
        self.locked: list[tuple[float, float]] = []
        self.unlocked: list[tuple[float, float]] = []
        self.tables: list[str] = []
        #: Per phase ("locked", "unlocked"): CPU seconds spent in it, by process.
        self.cpu: dict[str, dict[str, float]] = {"locked": {}, "unlocked": {}}

    def reading(self) -> dict[str, float]:
        readings = self.meter.read()
        # This process: the reading threads' HTTP clients (and this writer).
        readings[BENCH_CLIENT] = readings.pop("bench (commits, polling)")
        return {**readings, "machine": machine_cpu_seconds()}

    def count(self, phase: str, before: dict[str, float]) -> dict[str, float]:
        after = self.reading()
        spent = self.cpu[phase]
        for name, seconds in after.items():
            spent[name] = spent.get(name, 0.0) + seconds - before.get(name, seconds)
        return after

    def run(self) -> None:
        with psycopg.connect(self.url) as conn:
            self.tables = [row[0] for row in conn.execute(LOCKED_TABLES_SQL).fetchall()]
            conn.commit()
            names = ", ".join(f'"{name}"' for name in self.tables)
            reading = self.reading()
            for _ in range(CYCLES):
                started = time.monotonic()
                time.sleep(UNLOCKED_SECONDS)
                self.unlocked.append((started, time.monotonic()))
                reading = self.count("unlocked", reading)
                conn.execute(f"LOCK TABLE {names} IN ACCESS EXCLUSIVE MODE")
                started = time.monotonic()
                time.sleep(LOCKED_SECONDS)
                self.locked.append((started, time.monotonic()))
                reading = self.count("locked", reading)
                conn.commit()

    def cores_busy(self, phase: str) -> dict[str, float]:
        """Cores each process kept busy on average during `phase` (2.0: both cores all along)."""
        seconds = sum(end - start for start, end in getattr(self, phase))
        return {name: round(spent / seconds, 3) for name, spent in self.cpu[phase].items()} if seconds else {}


def get(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    """GET `path` on a kept-alive connection: its status. A connection the server closed while it was
    idle is opened again once, as urllib3 does for a pooled one."""
    try:
        return _get_once(connection, path, headers)
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        connection.close()
        return _get_once(connection, path, headers)


def _get_once(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> int:
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    return response.status


def reader(base_url: str, paths: Sequence[str], token: str, stop: threading.Event, out: list[Read]) -> None:
    # http.client, not requests: with requests the reading threads, which share this process's GIL,
    # spent more CPU per read than the users service answering it (0.72 against 0.61 ms).
    address = urlsplit(base_url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=TIMEOUT_SECONDS)
    headers = {"Authorization": f"Token {token}"}
    index = 0
    while not stop.is_set():
        path = paths[index % len(paths)]
        index += 1
        started = time.monotonic()
        try:
            ok = get(connection, path, headers) == 200
        except (OSError, http.client.HTTPException):
            connection.close()
            ok = False
        out.append(Read(started, (time.monotonic() - started) * 1000, ok))
    connection.close()


def overlapping(reads: list[Read], phases: list[tuple[float, float]]) -> list[Read]:
    """The reads that were in flight at some moment of these phases (a read that began just before
    a lock and waited it out counts for the lock)."""
    return [r for r in reads if any(r.started < end and r.ended > start for start, end in phases)]


def completed_in(reads: list[Read], phases: list[tuple[float, float]]) -> int:
    return sum(1 for r in reads if any(start <= r.ended < end for start, end in phases))


def figures(reads: list[Read], phases: list[tuple[float, float]], others: list[tuple[float, float]]) -> dict:
    """Latency of the reads in flight during `phases` (and not during `others`, for the free phases),
    and reads completed per second of `phases`."""
    chosen = overlapping(reads, phases)
    if others:
        touched = set(map(id, overlapping(reads, others)))
        chosen = [r for r in chosen if id(r) not in touched]
    seconds = sum(end - start for start, end in phases)
    completed = completed_in(reads, phases)
    return {
        "p50_ms": round(percentile([r.ms for r in chosen], 50), 1),
        "p99_ms": round(percentile([r.ms for r in chosen], 99), 1),
        "max_ms": round(max((r.ms for r in chosen), default=0.0), 1),
        "requests_per_second": round(completed / seconds, 1) if seconds else 0.0,
        "requests_completed": completed,
        "failed": sum(1 for r in chosen if not r.ok),
    }


def measure(stack: CacheStack, databases: BenchDatabases) -> dict[str, dict]:
    ids = stack.user_ids[:EMPLOYEES]
    users_paths = ["/api/catalogue/departments/", *(f"/api/users/{i}/resources/" for i in ids)]
    hr_paths = ["/api/departments/", *(f"/api/users/{i}/resources/" for i in ids)]
    log(f"warming the users service's cache ({len(users_paths)} entries)")
    session = requests.Session()
    for path in users_paths:
        session.get(stack.users_urls["default"] + path, headers=stack.users_headers(), timeout=30)

    reads: dict[str, list[Read]] = {"users_service": [], "monolith": []}
    stop = threading.Event()
    targets = {
        "users_service": (stack.users_urls["default"], users_paths, stack.users_token),
        "monolith": (stack.hr_url, hr_paths, stack.hr_token),
    }
    threads = [
        threading.Thread(target=reader, args=(*targets[name], stop, reads[name]), daemon=True)
        for name in targets
        for _ in range(THREADS)
    ]
    meter = CpuMeter(
        {name: pid for name, pid in stack.pids.items() if name != "redis_broker"},
        databases={"postgres_hr": databases.name("hr"), "postgres_users": databases.name("users")},
    )
    writer = Writer(databases.url("hr"), meter)
    log(f"reading both services while the writer locks {CYCLES} x {LOCKED_SECONDS:g}s")
    for thread in threads:
        thread.start()
    writer.start()
    writer.join()
    stop.set()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS + 5)
    log(f"locked tables: {', '.join(writer.tables)}")
    measured: dict = {
        "tables": writer.tables,
        "cores_busy": {phase: writer.cores_busy(phase) for phase in ("locked", "unlocked")},
    }
    for name, done in reads.items():
        log(f"{name}: {len(done)} reads")
        measured[name] = {
            "locked": figures(done, writer.locked, []),
            "unlocked": figures(done, writer.unlocked, writer.locked),
        }
    return measured


def main() -> int:
    if not postgres_answers():
        log("reads_under_lock needs PostgreSQL (BENCH_POSTGRES_URL)")
        return 1
    databases = BenchDatabases()
    try:
        no_delay = {"RESOURCES_LATENCY_MS": "0"}
        with cache_stack(employees=EMPLOYEES, databases=databases, env_extra=no_delay) as stack:
            measured = measure(stack, databases)
    finally:
        databases.drop()
    users, monolith = measured["users_service"]["locked"], measured["monolith"]["locked"]
    emit(
        result(
            "reads_under_lock",
            unit="ms p99 locked",
            value=users["p99_ms"],
            baseline=monolith["p99_ms"],
            ratio=monolith["p99_ms"] / users["p99_ms"] if users["p99_ms"] else 0.0,
            params={
                "database": "postgresql",
                "locked_seconds": LOCKED_SECONDS,
                "unlocked_seconds": UNLOCKED_SECONDS,
                "cycles": CYCLES,
                "reader_threads_per_service": THREADS,
                "employees_read": EMPLOYEES,
                "paths": "catalogue departments + resources of each employee, round robin",
                "monolith_resources_latency_ms": 0,
                "locked_tables": measured["tables"],
            },
            users_service=measured["users_service"],
            monolith=measured["monolith"],
            cores_busy=measured["cores_busy"],
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
