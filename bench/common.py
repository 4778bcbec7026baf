"""What every benchmark shares: the JSON result line, percentiles, timing."""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def result(
    name: str,
    *,
    unit: str,
    value: float,
    baseline: float,
    ratio: float | None = None,
    params: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The contract line. `ratio` defaults to value/baseline (bigger is better); for times pass
    baseline/value yourself."""
    if ratio is None:
        ratio = value / baseline if baseline else math.inf
    return {
        "bench": name,
        "unit": unit,
        "value": round(value, 3),
        "baseline": round(baseline, 3),
        "ratio": round(ratio, 3),
        "params": params or {},
        # 1-minute load average as the run ends, its own processes included: how busy the machine was.
        "load_average_1m": round(os.getloadavg()[0], 2),
        **extra,
    }


def emit(line: dict[str, Any]) -> None:
    """Print the result as the last line of stdout."""
    sys.stdout.flush()
    print(json.dumps(line), flush=True)


def percentile(samples: Sequence[float], pct: float) -> float:
    if not samples:
        return math.nan
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))
    return ordered[index]


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples) if samples else math.nan


def log(message: str) -> None:
    """Progress goes to stderr so the JSON line stays the last line of stdout."""
    print(message, file=sys.stderr, flush=True)


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces: split after its closing parenthesis.
    return raw[raw.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, descendants: bool = True) -> float:
    """User + system CPU seconds of a process (all its threads) and, by default, of its living
    descendants, from /proc (Linux). 0.0 for a process that is gone."""
    pids = [pid]
    if descendants:
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and (fields := _stat(int(entry.name))):
                children.setdefault(int(fields[1]), []).append(int(entry.name))
        index = 0
        while index < len(pids):
            pids.extend(children.get(pids[index], []))
            index += 1
    total = 0
    for each in pids:
        if fields := _stat(each):
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLOCK_TICKS


def postgres_cpu_seconds(database: str, *, exclude: Sequence[int] = ()) -> float:
    """CPU seconds of the PostgreSQL backends now connected to `database` (their process title
    names the database), but `exclude` (e.g. the bench's own backend);
    backends that already exited are not counted."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        try:
            title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        words = title.split()
        # "postgres: <user> <db> …", or "postgres: <cluster>: <user> <db> …" (Debian).
        if len(words) >= 3 and words[0] == "postgres:" and database in words[1:4]:
            total += cpu_seconds(int(entry.name), descendants=False)
    return total
