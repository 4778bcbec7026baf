"""`make test`: ruff (with its bandit rules), pip-audit (devstack/audit.py), then the suite in
pytest runs of about the same length (`RUNS`).

Each service is its own Django project with its own settings, so a pytest process runs the tests
of one of them; `events/` and the end-to-end tests need no Django settings of their own and run
with the monolith's. Tests marked `postgres` run in further
processes (one per service) against a PostgreSQL database of their own (devstack/postgres.py).
`make test-localstack` (AWS_EMULATOR=localstack) runs every SNS/SQS test
unchanged on LocalStack instead. TEST_JOBS runs go at once (default 4); each run's output is
printed in one piece when it ends. Prints one combined closing line.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from devstack.postgres import PostgresProvider
from devstack.stack import BASE_DIR

RESULTS_DIR = BASE_DIR / "var" / "test-results"
POSTGRES_MARKER = "postgres"
#: The users service's tests of real processes (bridge, workers, liveness): one run of their own.
USERS_PROCESS_TESTS = [
    "tests/users_service/bridge",
    "tests/users_service/test_real_worker.py",
    "tests/users_service/test_liveness_processes.py",
]
#: The users service's test packages that are neither (reports, cache, privacy): another run.
USERS_PACKAGES = ["tests/users_service/reports", "tests/users_service/cache", "tests/users_service/privacy"]
#: (settings, paths, marker expression); SQLite runs exclude the PostgreSQL tests. Each service's
#: tests are split into runs of about the same length (real processes, and the rest in two), so
#: that no run is the long pole; the longest start first, TEST_JOBS at a time. Runs going at once
#: share nothing: each starts its own Redis and moto servers on free ports, with its own Prometheus
#: directory (devstack/pytest_development.py) and in-memory SQLite test databases.
RUNS = [
    ("users_service.settings", USERS_PROCESS_TESTS, f"not {POSTGRES_MARKER}"),
    (
        "users_service.settings",
        ["tests/users_service", *(f"--ignore={path}" for path in USERS_PROCESS_TESTS + USERS_PACKAGES)],
        f"not {POSTGRES_MARKER}",
    ),
    ("users_service.settings", USERS_PACKAGES, f"not {POSTGRES_MARKER}"),
    (
        "hr_monolith.settings",
        ["tests/hr_monolith", "tests/compose", "tests/settings"],
        f"not {POSTGRES_MARKER}",
    ),
    (
        "hr_monolith.settings",
        ["tests/events", "tests/devstack", "tests/bench", "tests/scans"],
        f"not {POSTGRES_MARKER}",
    ),
    ("hr_monolith.settings", ["tests/e2e", "tests/faults", "tests/browser"], f"not {POSTGRES_MARKER}"),
]
#: Row locks, SKIP LOCKED and concurrent writers need PostgreSQL: (run, the variable its settings read).
POSTGRES_RUNS = [
    (("hr_monolith.settings", ["tests/hr_monolith"], POSTGRES_MARKER), "DATABASE_URL"),
    (("users_service.settings", ["tests/users_service"], POSTGRES_MARKER), "USERS_DATABASE_URL"),
]
#: `make test-localstack`: every test that touches SNS/SQS, unchanged, on LocalStack started
#: natively, plus the LocalStack-only tests (the compose init script).
LOCALSTACK_RUNS = [
    (
        "hr_monolith.settings",
        ["tests/events", "tests/hr_monolith/test_relay.py", "tests/e2e", "tests/localstack"],
        f"not {POSTGRES_MARKER} and not moto_only",
    ),
]


#: Runs going at once (TEST_JOBS, default 4): much of the suite waits on real processes and
#: servers (a visibility timeout, a beat's lock, a restarted broker); a whole `make test` used
#: ~450 s of CPU in ~600 s with three at a time, so four side by side finish sooner even on 2
#: cores. TEST_JOBS=1 runs them in turn.
JOBS = max(1, int(os.environ.get("TEST_JOBS", "4")))


@dataclass
class Job:
    """One pytest run: its command, environment, report and log, and the process once started."""

    index: int
    run: tuple[str, list[str], str]
    env: dict[str, str] | None = None
    process: subprocess.Popen | None = None
    code: int | None = None
    started: float = 0.0

    @property
    def report(self) -> Path:
        return RESULTS_DIR / f"run{self.index}.xml"

    @property
    def log(self) -> Path:
        return RESULTS_DIR / f"run{self.index}.log"

    def command(self, argv: list[str]) -> list[str]:
        settings, paths, marker = self.run
        return [
            sys.executable,
            "-m",
            "pytest",
            f"--ds={settings}",
            f"--junitxml={self.report}",
            "-m",
            marker,
            *paths,
            *argv,
        ]

    def start(self, argv: list[str]) -> None:
        self.report.unlink(missing_ok=True)
        command = self.command(argv)
        print(f"\n[run {self.index}] $ {' '.join(command[1:])}", flush=True)
        self.started = time.monotonic()
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def finish(self) -> None:
        """Print the run's output in one piece, so that two runs' lines never interleave."""
        self.code = self.process.wait()
        took = time.monotonic() - self.started
        print(f"\n[run {self.index}] {' '.join(self.run[1])} (exit {self.code}, {took:.0f} s)", flush=True)
        sys.stdout.write(self.log.read_text(errors="replace"))
        sys.stdout.flush()


def _run_all(jobs: list[Job], argv: list[str]) -> None:
    waiting, running = list(jobs), []
    try:
        _drain(waiting, running, argv)
    finally:  # Ctrl-C or an error here: no pytest run is left behind
        for job in running:
            job.process.kill()
            job.process.wait()


def _drain(waiting: list[Job], running: list[Job], argv: list[str]) -> None:
    while waiting or running:
        while waiting and len(running) < JOBS:
            job = waiting.pop(0)
            job.start(argv)
            running.append(job)
        done = next((job for job in running if job.process.poll() is not None), None)
        if done is None:
            time.sleep(0.2)
            continue
        running.remove(done)
        done.finish()


def _count(job: Job, totals: dict[str, int]) -> None:
    if job.report.exists():
        suite = ET.parse(job.report).getroot().find("testsuite")
        if suite is not None:
            tests, failures, errors, skipped = (
                int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
            )
            totals["passed"] += tests - failures - errors - skipped
            totals["failed"] += failures + errors
            totals["skipped"] += skipped
    elif job.code != 0:
        totals["failed"] += 1  # the run could not even start


def main(argv: list[str]) -> int:
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=BASE_DIR)
    formatted = subprocess.run([sys.executable, "-m", "ruff", "format", "--check", "."], cwd=BASE_DIR)
    audit = subprocess.run([sys.executable, "-m", "devstack.audit"], cwd=BASE_DIR)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    localstack = os.environ.get("AWS_EMULATOR") == "localstack"
    jobs = [Job(index, run) for index, run in enumerate(LOCALSTACK_RUNS if localstack else RUNS)]
    provider = None
    ok = lint.returncode == 0 and formatted.returncode == 0 and audit.returncode == 0
    unprovisioned = 0
    if not localstack:
        # One PostgreSQL (the running server, or a cluster of the suite's own) with a database per run.
        try:
            provider = PostgresProvider.find_or_start(allow_system_install=True)
            print(f"\npostgres: {provider.where}", flush=True)
        except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
            print(f"\npostgres: cannot provision a PostgreSQL for the `postgres` tests: {exc}", flush=True)
            ok, unprovisioned = False, len(POSTGRES_RUNS)
    with contextlib.ExitStack() as cleanup:
        if provider is not None:
            cleanup.callback(provider.close)
            for run, variable in POSTGRES_RUNS:
                url = cleanup.enter_context(provider.database("hr_events_test"))
                # PG_ADMIN_URL lets fixtures that want a database of their own reuse this server.
                env = {**os.environ, variable: url, "PG_ADMIN_URL": provider.admin_url}
                jobs.append(Job(len(jobs), run, env))
        started = time.monotonic()
        _run_all(jobs, argv)
    totals = {"passed": 0, "failed": unprovisioned, "skipped": 0}
    for job in jobs:
        _count(job, totals)
        # 5 = nothing selected: a `-k` given to `make test` may leave no test in a run.
        ok = ok and job.code in (0, 5)
    print(f"\nruff: {'clean' if lint.returncode == 0 else 'FAILED'}")
    print(f"ruff format: {'clean' if formatted.returncode == 0 else 'FAILED (ruff format . fixes it)'}")
    print(f"pip-audit: {'passed (see above)' if audit.returncode == 0 else 'FAILED'}")
    print(
        f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped "
        f"in {time.monotonic() - started:.0f} s ({JOBS} runs at a time)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
