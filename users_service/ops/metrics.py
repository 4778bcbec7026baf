"""Every metric of the users service, declared once with its help text and type.

Writers (the bridge, tasks, caches, the web) import the metric objects and count on them; readers
(`/metrics`, `/health/`, `/ops/`, the pipeline_health report) import the objects or their names
from here. prometheus_client runs in multiprocess mode (shared_settings/prometheus.py): each
process writes its own mmap file and a read merges them, so what a Celery child or the bridge
counted shows in the web's `/metrics`. Counting is an in-process mmap write: no network, never
an error for the caller.

    from users_service.ops import metrics
    metrics.CACHE_HITS.labels(cache="resources").inc()
    metrics.snapshot()[metrics.series("cache_hits_total", {"cache": "resources"})]  # 1.0
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from shared_settings import prometheus

# HTTP latency per view: both services' histogram, observed by the middleware declared with it.
from shared_settings.http_metrics import HTTP_REQUEST_SECONDS
from shared_settings.prometheus import series, snapshot

__all__ = ["HTTP_REQUEST_SECONDS", "cache_summary", "sample_name", "series", "snapshot", "value"]

# Fails at import, not at the first scrape, if the settings did not turn multiprocess mode on.
prometheus.multiprocess_dir()

#: Seconds: from a few milliseconds (a healthy hand-off) to minutes (a backlog or an outage).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

# --- events: SQS -> bridge -> Celery -> read model -------------------------------------------------
EVENTS_APPLIED = Counter(
    "events_applied",
    "Events the directory tasks handled, by event type and outcome (applied, stale, duplicate...).",
    ["event_type", "outcome"],
)
EVENT_END_TO_END = Histogram(
    "event_end_to_end_seconds",
    "From the monolith's commit (the envelope's occurred_at) to the event applied to the read model.",
    ["event_type"],
    buckets=LATENCY_BUCKETS,
)
TASK_QUEUED_TO_APPLIED = Histogram(
    "task_queued_to_applied_seconds",
    "From a task's publish to the broker to its successful end in a worker.",
    ["task"],
    buckets=LATENCY_BUCKETS,
)
TASKS_RETRIED = Counter("tasks_retried", "Task retries scheduled after a transient error.", ["task"])
TASKS_FAILED = Counter("tasks_failed", "Tasks that failed for good (recorded as FailedTask).", ["task"])

# --- the bridge (counted in events/bridge/stats.py, exported by users_service/bridge/stats_export.py)
#: BridgeStats counter field -> the counter it is exported to.
BRIDGE_COUNTERS: dict[str, Counter] = {
    field: Counter(f"bridge_{field}", help_text)
    for field, help_text in {
        "received": "SQS messages received (redeliveries included).",
        "published_tasks": "Celery tasks handed to the broker.",
        "deleted": "SQS messages deleted after their tasks were on the broker (or in the DLQ).",
        "redelivered": "SQS messages received more than once (ApproximateReceiveCount > 1).",
        "ignored": "Valid events no task is routed for (deleted without a task).",
        "transient_failures": "Batches the broker refused (messages left in SQS for redelivery).",
        "left_for_redelivery": "Messages left in SQS after a transient failure.",
        "delete_failures": "Messages delete_message_batch did not delete (they come back).",
        "handoffs_recorded": "Hand-off records written before the SQS delete (docs/delivery.md).",
        "handoff_failures": "Batches whose hand-off records could not be written (left in SQS).",
        "visibility_extensions": "Visibility timeouts extended for a slow batch.",
        "batches": "Receive batches handled.",
    }.items()
}
HANDOFFS_REPUBLISHED = Counter(
    "handoffs_republished", "Events the hand-off sweeper published again (no task reached the inbox)."
)
HANDOFFS_PARKED = Counter(
    "handoffs_parked",
    "Events parked by the hand-off sweeper: HANDOFF_MAX_ATTEMPTS re-publishes and still not in the inbox.",
)
HANDOFF_SWEEP_FAILURES = Counter("handoff_sweep_failures", "Hand-off sweeper rounds that failed (retried).")
BRIDGE_DEAD_LETTERED = Counter(
    "bridge_dead_lettered", "Messages sent to the DLQ, by reason (the DLQ message attribute).", ["reason"]
)
BRIDGE_BATCH_SECONDS = Histogram(
    "bridge_batch_seconds", "Time to handle one receive batch, receive to delete.", buckets=LATENCY_BUCKETS
)
BRIDGE_HANDOFF_SECONDS = Histogram(
    "bridge_handoff_seconds",
    "From a message's receipt by the bridge to its tasks accepted by the broker.",
    buckets=LATENCY_BUCKETS,
)
# livemax: the oldest of every running bridge; a bridge that exits drops out (mark_process_dead).
BRIDGE_OLDEST_MESSAGE_AGE = Gauge(
    "bridge_oldest_message_age_seconds",
    "Age (since SQS received it) of the oldest message in the last batch: how far behind the bridge is.",
    multiprocess_mode="livemax",
)
BRIDGE_LOOPS = Gauge("bridge_loops", "Receive loops of the running bridges.", multiprocess_mode="livesum")

# --- caches (users_service/read_through.py) -----------------------------------------------------------
CACHE_HITS = Counter("cache_hits", "Lookups answered from the cache.", ["cache"])
CACHE_MISSES = Counter("cache_misses", "Lookups the cache did not hold.", ["cache"])
CACHE_ERRORS = Counter("cache_errors", "Cache operations that failed (Redis down or slow).", ["cache", "op"])
CACHE_FALLTHROUGH = Counter(
    "cache_fallthrough", "Requests answered from the upstream past the cache.", ["cache"]
)
CACHE_BYPASSED = Counter("cache_bypassed", "Lookups that skipped a cache known to be failing.", ["cache"])
CACHE_UNDECODABLE = Counter("cache_undecodable", "Cache entries that were not a cached body.", ["cache"])
CACHE_COALESCED = Counter("cache_coalesced", "Misses answered by another request's fill.", ["cache"])
CACHE_FILL_WAIT_TIMEOUTS = Counter(
    "cache_fill_wait_timeouts", "Misses that stopped waiting for another request's fill.", ["cache"]
)
CACHE_FILL_DISCARDED = Counter(
    "cache_fill_discarded", "Fills not stored because the key was invalidated meanwhile.", ["cache"]
)
CACHE_INVALIDATIONS = Counter("cache_invalidations", "Cache entries invalidated.", ["cache"])
CACHE_INVALIDATION_FAILURES = Counter(
    "cache_invalidation_failures",
    "Invalidations that failed (the entry stays stale until its TTL).",
    ["cache"],
)
CACHE_WARMS = Counter("cache_warms", "Cache warm-ups after user.created, by result.", ["cache", "result"])
UPSTREAM_REQUESTS = Counter("upstream_requests", "Calls to the monolith behind a cache.", ["cache"])
UPSTREAM_NOT_FOUND = Counter("upstream_not_found", "Upstream calls answered 404.", ["cache"])
UPSTREAM_ERRORS = Counter("upstream_errors", "Upstream calls that failed.", ["cache"])
THROTTLE_CACHE_ERRORS = Counter(
    "throttle_cache_errors", "Throttle checks let through because the cache failed.", ["scope"]
)


def observe_end_to_end(event_type: str, occurred_at: Any) -> None:
    """Observe commit -> applied from the envelope's `occurred_at` (skipped if it is not a timestamp)."""
    try:
        committed = datetime.fromisoformat(str(occurred_at).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return
    EVENT_END_TO_END.labels(event_type=event_type).observe(max(0.0, time.time() - committed))


#: The task message header the publisher stamps (`users_service/celery.py`): when it was queued.
QUEUED_AT_HEADER = "queued_at"


def observe_task_applied(task_name: str, queued_at: Any) -> None:
    """Observe queued -> applied for a task that carried a `queued_at` header (epoch seconds)."""
    if isinstance(queued_at, int | float):
        TASK_QUEUED_TO_APPLIED.labels(task=task_name).observe(max(0.0, time.time() - queued_at))


def sample_name(metric: MetricWrapperBase, suffix: str = "") -> str:
    """The name a metric's samples carry in `/metrics` (`_total` for a counter, plus `suffix`)."""
    name = metric._name  # prometheus_client keeps the declared name here, without the suffix
    return f"{name}_total" if metric._type == "counter" else f"{name}{suffix}"


def value(
    metric: MetricWrapperBase,
    values: Mapping[str, float],
    *,
    combine: str = "sum",
    suffix: str = "",
) -> float | None:
    """One figure of `metric` from a `snapshot()`: the sum (or max) over its series, None if none."""
    name = sample_name(metric, suffix)
    matching = [v for k, v in values.items() if k == name or k.startswith(name + "{")]
    if not matching:
        return None
    return max(matching) if combine == "max" else sum(matching)


#: The counters `cache_summary` reads, with the short name it gives each.
SUMMARY_COUNTERS = {
    "hits": CACHE_HITS,
    "misses": CACHE_MISSES,
    "errors": CACHE_ERRORS,
    "fallthrough": CACHE_FALLTHROUGH,
}


def cache_summary(values: Mapping[str, float] | None = None) -> dict[str, dict[str, float]]:
    """Per cache: hits, misses, errors, fall-throughs and the hit ratio (for /health/ and /ops/)."""
    values = snapshot() if values is None else values
    caches: dict[str, dict[str, float]] = {}
    for short, counter in SUMMARY_COUNTERS.items():
        prefix = sample_name(counter) + "{"
        for key, amount in values.items():
            if not key.startswith(prefix) or 'cache="' not in key:
                continue
            cache = key.split('cache="', 1)[1].split('"', 1)[0]
            entry = caches.setdefault(cache, dict.fromkeys(SUMMARY_COUNTERS, 0.0))
            entry[short] += amount
    for entry in caches.values():
        looked_up = entry["hits"] + entry["misses"]
        entry["hit_ratio"] = round(entry["hits"] / looked_up, 4) if looked_up else 0.0
    return caches
