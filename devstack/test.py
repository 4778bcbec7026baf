"""`make test`: ruff, then the suite in two pytest runs (one per Django project).

Each service is its own Django project with its own settings, so each gets its
own pytest process; `events/` and the end-to-end tests need no Django settings
of their own and run in the first. Prints one combined closing line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET

from devstack.stack import BASE_DIR

RUNS = [
    ("hr_monolith.settings", ["tests/events", "tests/hr_monolith", "tests/e2e", "tests/compose"]),
    ("users_service.settings", ["tests/users_service"]),
]
#: `make test-localstack` (AWS_EMULATOR=localstack): every test that touches SNS/SQS, unchanged, on
#: LocalStack started natively, plus the LocalStack-only tests (the compose init script).
LOCALSTACK_RUNS = [
    (
        "hr_monolith.settings",
        ["tests/events", "tests/hr_monolith/test_relay.py", "tests/e2e", "tests/localstack"],
    ),
]


def main(argv: list[str]) -> int:
    lint = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=BASE_DIR)
    results_dir = BASE_DIR / "var" / "test-results"
    results_dir.mkdir(parents=True, exist_ok=True)
    totals = {"passed": 0, "failed": 0, "skipped": 0}
    codes = []
    runs = LOCALSTACK_RUNS if os.environ.get("AWS_EMULATOR") == "localstack" else RUNS
    for index, (settings, paths) in enumerate(runs):
        report = results_dir / f"run{index}.xml"
        command = [sys.executable, "-m", "pytest", f"--ds={settings}", f"--junitxml={report}", *paths, *argv]
        print(f"\n$ {' '.join(command[1:])}", flush=True)
        codes.append(subprocess.run(command, cwd=BASE_DIR).returncode)
        if report.exists():
            suite = ET.parse(report).getroot().find("testsuite")
            if suite is not None:
                tests, failures, errors, skipped = (
                    int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")
                )
                totals["passed"] += tests - failures - errors - skipped
                totals["failed"] += failures + errors
                totals["skipped"] += skipped
    ok = lint.returncode == 0 and all(code == 0 for code in codes)
    print(f"\nruff: {'clean' if lint.returncode == 0 else 'FAILED'}")
    print(f"{totals['passed']} passed, {totals['failed']} failed, {totals['skipped']} skipped")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
