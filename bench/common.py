"""What every benchmark shares: the JSON result line, percentiles, timing, CPU accounting from /proc."""

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


def _process_table() -> dict[int, tuple[int, float]]:
    """pid → (parent pid, user + system CPU seconds) of every living process, from /proc (Linux)."""
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            raw = stat.read_text()
        except OSError:
            continue
        # The command name (field 2) may hold spaces: split after its closing parenthesis.
        fields = raw[raw.rindex(")") + 2 :].split()
        table[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
    return table


def cpu_seconds_of(roots: dict[str, int], *, descendants: bool = True) -> dict[str, float]:
    """name → CPU seconds used so far by the process `roots[name]` (all its threads) and, by default,
    its living descendants; 0.0 for a process that is gone. One pass over /proc for all of them."""
    table = _process_table()
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in table.items():
        children.setdefault(parent, []).append(pid)
    totals = {}
    for name, root in roots.items():
        tree = [root]
        index = 0
        while descendants and index < len(tree):
            tree.extend(children.get(tree[index], []))
            index += 1
        totals[name] = sum(table[pid][1] for pid in tree if pid in table)
    return totals


def cpu_seconds(pid: int, *, descendants: bool = True) -> float:
    """User + system CPU seconds of one process and, by default, of its living descendants."""
    return cpu_seconds_of({"process": pid}, descendants=descendants)["process"]


def postgres_cpu_seconds(database: str, *, exclude: Sequence[int] = ()) -> float:
    """CPU seconds of the PostgreSQL backends now connected to `database` (their process title
    names the database), but `exclude` (e.g. the bench's own backend);
    backends that already exited are not counted."""
    table = _process_table()
    total = 0.0
    for pid in set(table) - set(exclude):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        words = title.split()
        # "postgres: <user> <db> …", or "postgres: <cluster>: <user> <db> …" (Debian).
        if len(words) >= 3 and words[0] == "postgres:" and database in words[1:4]:
            total += table[pid][1]
    return total


class CpuMeter:
    """CPU seconds spent by each process (and descendants), by the PostgreSQL backends of some databases,
    and by this process, between two readings: what each part costs per event or request."""

    def __init__(
        self, processes: dict[str, int], databases: dict[str, str] | None = None, exclude: Sequence[int] = ()
    ) -> None:
        self.processes = processes
        self.databases = databases or {}
        self.exclude = exclude

    def read(self) -> dict[str, float]:
        readings = cpu_seconds_of(self.processes)
        for label, database in self.databases.items():
            readings[label] = postgres_cpu_seconds(database, exclude=self.exclude)
        times = os.times()
        readings["bench (commits, polling)"] = times.user + times.system
        return readings

    @staticmethod
    def per_event(before: dict[str, float], after: dict[str, float], events: int) -> dict[str, float]:
        costs = {name: round(1000 * (after[name] - before[name]) / events, 2) for name in after}
        costs["total"] = round(sum(costs.values()), 2)
        return costs
