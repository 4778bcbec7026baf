"""`/metrics` is prometheus_client's text format, merged over every process of the service."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from shared_settings import prometheus
from users_service.ops import metrics

ROOT = Path(__file__).resolve().parents[2]


def scrape() -> dict[str, object]:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    return {family.name: family for family in text_string_to_metric_families(response.content.decode())}


def sample(families: dict, family: str, name: str, **labels: str) -> float | None:
    for s in getattr(families.get(family), "samples", ()):
        if s.name == name and s.labels == labels:
            return s.value
    return None


EXPECTED_TYPES = {
    "cache_hits": "counter",
    "bridge_received": "counter",
    "bridge_dead_lettered": "counter",
    "bridge_oldest_message_age_seconds": "gauge",
    "bridge_handoff_seconds": "histogram",
    "event_end_to_end_seconds": "histogram",
    "task_queued_to_applied_seconds": "histogram",
    "http_request_duration_seconds": "histogram",
}


def test_metrics_carry_help_and_type(db):
    # A labelled metric shows once one of its series was touched.
    metrics.CACHE_HITS.labels(cache="catalogue").inc(0)
    metrics.BRIDGE_DEAD_LETTERED.labels(reason="bad_json").inc(0)
    metrics.EVENT_END_TO_END.labels(event_type="user.created").observe(0.1)
    metrics.TASK_QUEUED_TO_APPLIED.labels(task="directory.apply_user_event").observe(0.1)
    Client().get("/health/live/")  # one request observed by the latency middleware
    families = scrape()
    for name, kind in EXPECTED_TYPES.items():
        assert families[name].type == kind, name
        assert families[name].documentation, name
    body = Client().get("/metrics").content.decode()
    assert "# HELP cache_hits_total Lookups answered from the cache." in body
    assert "# TYPE cache_hits_total counter" in body


def test_a_count_in_this_process_reaches_metrics_and_the_snapshot(db):
    labels = {"event_type": "user.created", "outcome": "applied"}
    start = sample(scrape(), "events_applied", "events_applied_total", **labels)
    metrics.EVENTS_APPLIED.labels(**labels).inc(3)

    total = sample(scrape(), "events_applied", "events_applied_total", **labels)
    assert total == (start or 0) + 3
    key = metrics.series("events_applied_total", {"event_type": "user.created", "outcome": "applied"})
    assert metrics.snapshot()[key] == total


def test_large_integers_are_written_without_exponent(db):
    metrics.UPSTREAM_REQUESTS.labels(cache="exponent-check").inc(1_234_567)
    line = next(
        line
        for line in Client().get("/metrics").content.decode().splitlines()
        if line.startswith('upstream_requests_total{cache="exponent-check"}')
    )
    assert line.split()[-1] == "1234567"
    assert "e+" not in line


COUNT_IN_A_CHILD = """
import django, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "users_service.settings"
django.setup()
from users_service.ops import metrics
metrics.CACHE_MISSES.labels(cache="restart-check").inc(int(sys.argv[1]))
metrics.BRIDGE_OLDEST_MESSAGE_AGE.set(float(sys.argv[2]))
"""


def run_child(count: int, age: float) -> None:
    """A separate process (as a worker or the bridge is) that counts and exits."""
    subprocess.run(
        [sys.executable, "-c", COUNT_IN_A_CHILD, str(count), str(age)],
        cwd=ROOT,
        env=os.environ.copy(),
        check=True,
        timeout=60,
    )


def test_other_processes_add_up_and_a_restart_makes_no_new_series(db):
    series = 'cache_misses_total{cache="restart-check"}'
    run_child(2, 7.5)
    run_child(5, 3.0)  # "the restarted process"

    body = Client().get("/metrics").content.decode()
    matching = [line for line in body.splitlines() if line.startswith(series)]
    assert matching == [f"{series} 7.0"], matching
    assert "pid=" not in body
    assert "host=" not in body


def test_a_dead_process_drops_out_of_live_gauges(db, tmp_path):
    run_child(1, 42.0)
    # The child exited without anyone calling mark_process_dead: the sweep finds it.
    assert prometheus.sweep_dead_processes()
    age = metrics.value(metrics.BRIDGE_OLDEST_MESSAGE_AGE, metrics.snapshot(), combine="max")
    assert age is None or age < 42.0


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_metrics_answers_get_only(db, method):
    assert getattr(Client(), method)("/metrics").status_code == 405


IMPORTED_FIRST = """
import prometheus_client  # what the celery command does first (flower's CLI plugin)
import django, os
os.environ["DJANGO_SETTINGS_MODULE"] = "users_service.settings"
django.setup()
from users_service.ops import metrics
metrics.CACHE_MISSES.labels(cache="imported-first").inc(4)
"""


def test_counts_reach_the_directory_when_prometheus_client_was_imported_before_the_settings(tmp_path):
    env = os.environ.copy()
    env.pop("PROMETHEUS_MULTIPROC_DIR")  # the settings choose it (under VAR_DIR), after the import
    env["VAR_DIR"] = str(tmp_path)
    subprocess.run([sys.executable, "-c", IMPORTED_FIRST], cwd=ROOT, env=env, check=True, timeout=60)

    merged = CollectorRegistry()
    MultiProcessCollector(merged, path=str(tmp_path / "prometheus" / "users"))
    assert merged.get_sample_value("cache_misses_total", {"cache": "imported-first"}) == 4
