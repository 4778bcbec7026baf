"""`make audit`: pip-audit over the pinned runtime requirements (requirements.txt).

Three outcomes, said plainly: audited (exit 1 on a known vulnerability not reviewed below),
not audited because the vulnerability database cannot be reached (no network, a mirror without
PyPI's JSON API): exit 0 with a clear line, so an offline `make test` does not fail on it, or
partly audited (the packages not looked up are named). pip-audit alone prints "No known
vulnerabilities found" when it could look up nothing; the JSON report tells the cases apart.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS = BASE_DIR / "requirements.txt"
#: Vulnerabilities reviewed and accepted, each with its reason: {id: why it does not apply}.
REVIEWED: dict[str, str] = {}
#: Seconds per request to the vulnerability service.
TIMEOUT = 10


@dataclass(frozen=True)
class AuditResult:
    audited: list[str]
    skipped: list[str]
    vulnerable: dict[str, list[str]]

    @property
    def reached(self) -> bool:
        return bool(self.audited)


def parse_report(report: dict) -> AuditResult:
    """pip-audit's JSON report: which packages were looked up, which not, which are vulnerable."""
    audited, skipped, vulnerable = [], [], {}
    for dependency in report.get("dependencies", []):
        name = f"{dependency.get('name')}=={dependency.get('version')}"
        if dependency.get("skip_reason"):
            skipped.append(name)
            continue
        audited.append(name)
        ids = [v["id"] for v in dependency.get("vulns", []) if v.get("id") not in REVIEWED]
        if ids:
            vulnerable[name] = ids
    return AuditResult(audited, skipped, vulnerable)


def audit(requirements: Path = REQUIREMENTS) -> AuditResult | None:
    """The audit, or None when pip-audit could not reach its database at all."""
    command = [
        *(sys.executable, "-m", "pip_audit"),
        *("--requirement", str(requirements), "--no-deps", "--disable-pip"),
        *("--format", "json", "--progress-spinner", "off", "--timeout", str(TIMEOUT)),
    ]
    for vulnerability in REVIEWED:
        command += ["--ignore-vuln", vulnerability]
    result = subprocess.run(command, capture_output=True, text=True, cwd=BASE_DIR)
    try:
        return parse_report(json.loads(result.stdout))
    except ValueError:
        # No report: pip-audit stopped, e.g. on a connection error to the service.
        return None


def main() -> int:
    result = audit()
    if result is None or not result.reached:
        print("pip-audit: the vulnerability database cannot be reached: requirements.txt NOT audited")
        return 0
    if result.skipped:
        print(f"pip-audit: not looked up ({len(result.skipped)}): {', '.join(result.skipped)}")
    for package, ids in result.vulnerable.items():
        print(f"pip-audit: {package}: {', '.join(ids)}")
    print(f"pip-audit: {len(result.audited)} packages audited, {len(result.vulnerable)} vulnerable")
    return 1 if result.vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())
