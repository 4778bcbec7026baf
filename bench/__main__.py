"""`make bench [B=name]`: run benchmarks and record their JSON lines in bench/RESULTS.md.

python -m bench               # every benchmark, one after another
python -m bench relay e2e     # just these
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "RESULTS.md"
#: The contract's names, in the order `make bench` runs them.
ORDER = [
    "relay",
    "bridge_drain",
    "task_publish",
    "bridge_peers",
    "fanout_150",
    "tasks_1000",
    "worker_apply",
    "cache_resources",
    "cache_catalogue",
    "stampede",
    "e2e",
]


def available() -> list[str]:
    present = {p.stem for p in BENCH_DIR.glob("*.py") if not p.stem.startswith("_")} - {"common"}
    return [name for name in ORDER if name in present] + sorted(present - set(ORDER))


def machine() -> str:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"{system}, {cpu}, Python {platform.python_version()}"


def run(name: str) -> dict | None:
    print(f"== bench {name}", file=sys.stderr, flush=True)
    process = subprocess.run(
        [sys.executable, "-m", f"bench.{name}"], cwd=BENCH_DIR.parent, stdout=subprocess.PIPE, text=True
    )
    lines = [line for line in process.stdout.splitlines() if line.strip()]
    if process.returncode != 0 or not lines:
        print(f"bench {name} failed (exit {process.returncode})", file=sys.stderr)
        return None
    line = json.loads(lines[-1])
    print(json.dumps(line), flush=True)
    return line


HEADER = """# Benchmark results

Written by `make bench` (or `make bench B=<name>`): each section is replaced by
the latest run of that benchmark. Each benchmark runs its subject and its
baseline side by side in one run; `ratio` is oriented so that bigger is better.
"""
SECTION = re.compile(r"<!-- (?P<name>\w+) -->\n.*?<!-- /(?P=name) -->", re.S)


def record(line: dict) -> None:
    """Replace this benchmark's section in RESULTS.md with the new figure; sections in ORDER."""
    text = RESULTS.read_text() if RESULTS.exists() else ""
    sections = {m["name"]: m.group(0) for m in SECTION.finditer(text)}
    name = line["bench"]
    sections[name] = "\n".join(
        [
            f"<!-- {name} -->",
            f"## {name}",
            f"- date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC",
            f"- machine: {machine()}",
            f"- command: `make bench B={name}`",
            f"- value: **{line['value']} {line['unit']}**, baseline {line['baseline']}, "
            f"ratio **{line['ratio']}**",
            "",
            "```json",
            json.dumps(line, indent=1),
            "```",
            f"<!-- /{name} -->",
        ]
    )
    ordered = [n for n in ORDER if n in sections] + sorted(set(sections) - set(ORDER))
    RESULTS.write_text(HEADER + "\n" + "\n\n".join(sections[n] for n in ordered) + "\n")


def main(argv: list[str]) -> int:
    names = argv or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have: {', '.join(available())}", file=sys.stderr)
        return 2
    failed = 0
    for name in names:
        line = run(name)
        if line is None:
            failed += 1
        else:
            record(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
