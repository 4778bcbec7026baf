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
    "latency_idle",
    "reads_under_lock",
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

Each benchmark's latest figure (between its markers) is written by `make bench` (or
`make bench B=<name>`); the text around the figures is kept.
"""


def section_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"<!-- {re.escape(name)} -->\n.*?<!-- /{re.escape(name)} -->", re.S)


def render(line: dict) -> str:
    """The figure block of one run: date, machine, command, the value and the whole JSON line."""
    name = line["bench"]
    return "\n".join(
        [
            f"<!-- {name} -->",
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


def record(line: dict, results: Path = RESULTS) -> None:
    """Replace this benchmark's figure block in RESULTS.md, or add a section for it at the end; the
    text around the blocks (each benchmark's aim and history) stays as it is."""
    text = results.read_text() if results.exists() else HEADER
    block = render(line)
    pattern = section_pattern(line["bench"])
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = f"{text.rstrip()}\n\n## {line['bench']}\n\n{block}\n"
    results.write_text(text)


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
