"""Prometheus metrics shared by every process of one service (prometheus_client multiprocess mode).

Each service runs several processes (web workers, Celery prefork children, the bridge, the relay);
each writes its samples to mmap files in the service's PROMETHEUS_MULTIPROC_DIR, and whoever reads
(`/metrics`, `/health/`, a report) merges the files of every process. Counters of a process that
has exited stay in its file, so a restart neither resets a total nor creates a new series (no pid
or host label ever reaches the output). Why this mode and not one exporter per process: see
docs/observability.md.

prometheus_client picks multiprocess mode when `prometheus_client.values` is first imported, so a
service's settings call `use_multiprocess_dir()` before anything imports a metric.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from django.http import HttpResponse
    from prometheus_client import CollectorRegistry
    from prometheus_client.registry import Collector

ENV_NAME = "PROMETHEUS_MULTIPROC_DIR"
#: Gauge modes whose files belong to one live process (removed by `mark_process_dead`).
_LIVE_GAUGE = re.compile(r"^gauge_live[a-z]*_(\d+)\.db$")
#: A sample line's value in Go's float format (`1.234567e+06`), which prometheus_client writes
#: for numbers of a million and more.
_EXPONENT_VALUE = re.compile(r" (-?\d(?:\.\d+)?e\+\d+)( \d+)?$")


def use_multiprocess_dir(directory: str | Path) -> str:
    """Create `directory` and make it this process's (and its children's) multiprocess directory.

    An already set PROMETHEUS_MULTIPROC_DIR wins: the test suite and a supervisor that cleans the
    directory set it for every process they start.
    """
    path = os.environ.setdefault(ENV_NAME, str(directory))
    Path(path).mkdir(parents=True, exist_ok=True)
    values = sys.modules.get("prometheus_client.values")
    if values is not None and values.ValueClass is values.MutexValue:
        # Imported before the settings ran: the `celery` command loads flower's CLI plugin, which
        # imports prometheus_client first. Metrics read `values.ValueClass` when they create a
        # value, so choosing again here still puts every metric declared from now on in the files.
        values.ValueClass = values.get_value_class()
    return path


def multiprocess_dir() -> str:
    """The directory every process of this service writes to; fails if multiprocess mode is off."""
    from prometheus_client import values

    path = os.environ.get(ENV_NAME)
    if not path or values.ValueClass is values.MutexValue:
        raise RuntimeError(
            f"{ENV_NAME} must be set before prometheus_client is imported (the service's settings do it)"
        )
    return path


def registry(*collectors: Collector) -> CollectorRegistry:
    """A registry that reads every process's samples (a fresh one per read, as prometheus_client
    asks), plus `collectors` that compute figures at read time (the monolith's outbox backlog)."""
    from prometheus_client import CollectorRegistry, multiprocess

    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged, path=multiprocess_dir())
    for collector in collectors:
        merged.register(collector)
    return merged


def exposition(*collectors: Collector) -> bytes:
    """The Prometheus text format of every process's metrics, integers written as integers."""
    from prometheus_client import generate_latest

    lines = generate_latest(registry(*collectors)).decode().split("\n")
    return "\n".join(_plain_integer(line) for line in lines).encode()


def metrics_response(*collectors: Collector) -> HttpResponse:
    """The body of a service's `/metrics` view (open like `/health/`; it holds no personal data)."""
    from django.http import HttpResponse
    from prometheus_client import CONTENT_TYPE_LATEST

    return HttpResponse(exposition(*collectors), content_type=CONTENT_TYPE_LATEST)


def _plain_integer(line: str) -> str:
    """`x_total 1e+06` -> `x_total 1000000`: readable, and exact for a human or a grep alike."""
    if line.startswith("#"):
        return line
    match = _EXPONENT_VALUE.search(line)
    if not match or not float(match.group(1)).is_integer():
        return line
    return line[: match.start(1)] + str(int(float(match.group(1)))) + (match.group(2) or "")


def series(name: str, labels: Mapping[str, str] | None = None) -> str:
    """A sample's series as `/metrics` writes it: `name{a="x",b="y"}` (labels sorted)."""
    if not labels:
        return name
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def snapshot(*collectors: Collector) -> dict[str, float]:
    """Every sample of every process: series -> value (what `/metrics` shows, as numbers)."""
    values: dict[str, float] = {}
    for family in registry(*collectors).collect():
        for sample in family.samples:
            values[series(sample.name, sample.labels)] = sample.value
    return values


def sweep_dead_processes(directory: str | None = None) -> list[int]:
    """Drop the live-gauge files of processes that no longer run (their counters stay).

    The supervisor calls `mark_process_dead` when it sees a child exit; this catches the
    processes nobody saw die (killed with their supervisor, or a previous run's).
    """
    from prometheus_client import multiprocess

    path = directory or multiprocess_dir()
    dead: set[int] = set()
    for name in os.listdir(path):
        match = _LIVE_GAUGE.match(name)
        if match and not _running(int(match.group(1))):
            dead.add(int(match.group(1)))
    for pid in dead:
        multiprocess.mark_process_dead(pid, path)
    return sorted(dead)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
