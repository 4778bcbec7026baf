"""`make test`: ruff (with its bandit rules), pip-audit (devstack/audit.py), then the suite in
pytest runs (one per Django project).

Each service is its own Django project with its own settings, so each gets its
own pytest process; `events/` and the end-to-end tests need no Django settings
of their own and run in the first. Tests marked `postgres` run in further
processes (one per service) against a PostgreSQL database of their own (devstack/postgres.py).
`make test-localstack` (AWS_EMULATOR=localstack) runs every SNS/SQS test
unchanged on LocalStack instead. Prints one combined closing line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from devstack.postgres import PostgresProvider
from devstack.stack import BASE_DIR

POSTGRES_MARKER = "postgres"
#: (settings, paths, marker expression); SQLite runs exclude the PostgreSQL tests.
RUNS = [
    (
        "hr_monolith.settings",
        [
            "tests/events",
            "tests/hr_monolith",
            "tests/e2e",
            "tests/compose",
            "tests/bench",
            "tests/settings",
            "tests/scans",
        ],
        f"not {POSTGRES_MARKER}",
    ),
    ("users_service.settings", ["tests/users_service"], f"not {POSTGRES_MARKER}"),
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


def _pytest(report: Path, run: tuple[str, list[str], str], argv: list[str], env: dict | None = None) -> int:
    settings, paths, marker = run
    command = [
        sys.executable,
        "-m",
        "pytest",
        f"--ds={settings}",
        f"--junitxml={report}",
        "-m",
        marker,
        *paths,
        *argv,
    ]
    print(f"\n$ {' '.join(command[1:])}", flush=True)
    return subprocess.run(command, cwd=BASE_DIR, env=env).returncode


def _postgres_run(report: Path, argv: list[str], run: tuple[str, list[str], str], variable: str) -> int:
    try:
        provider = PostgresProvider.find_or_start(allow_system_install=True)
    except (RuntimeError, TimeoutError, subprocess.CalledProcessError) as exc:
        print(f"\npostgres: cannot provision a PostgreSQL for the `postgres` tests: {exc}", flush=True)
        return 1
    print(f"\npostgres: {provider.where}", flush=True)
    try:
        with provider.database("hr_events_test") as url:
            # PG_ADMIN_URL lets fixtures that want a database of their own reuse this server.
            env = {**os.environ, variable: url, "PG_ADMIN_URL": provider.admin_url}
            code = _pytest(report, run, argv, env)
            # 5 = nothing selected: a `-k` given to `make test` may leave no PostgreSQL test.
            return 0 if code == 5 else code
    finally:
        provider.close()


def main(argv: list[str]) -> int:
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=BASE_DIR)
    audit = subprocess.run([sys.executable, "-m", "devstack.audit"], cwd=BASE_DIR)
    results_dir = BASE_DIR / "var" / "test-results"
    results_dir.mkdir(parents=True, exist_ok=True)
    localstack = os.environ.get("AWS_EMULATOR") == "localstack"
    runs: list = LOCALSTACK_RUNS if localstack else [*RUNS, *POSTGRES_RUNS]
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    codes = []
    for index, run in enumerate(runs):
        report = results_dir / f"run{index}.xml"
        report.unlink(missing_ok=True)
        if run in POSTGRES_RUNS:
            codes.append(_postgres_run(report, argv, *run))
        else:
            codes.append(_pytest(report, run, argv))
        if report.exists():
            suite = ET.parse(report).getroot().find("testsuite")  # noqa: S314 - our own pytest report
            if suite is not None:
                tests, failures, errors, skipped = (
                    int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
                )
                totals["passed"] += tests - failures - errors - skipped
                totals["failed"] += failures + errors
                totals["skipped"] += skipped
        elif codes[-1] != 0:
            totals["failed"] += 1  # the run could not even start (e.g. no PostgreSQL)
    ok = lint.returncode == 0 and audit.returncode == 0 and all(code == 0 for code in codes)
    print(f"\nruff: {'clean' if lint.returncode == 0 else 'FAILED'}")
    print(f"pip-audit: {'passed (see above)' if audit.returncode == 0 else 'FAILED'}")
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
