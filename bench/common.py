"""What every benchmark shares: the JSON result line, percentiles, timing."""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
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
