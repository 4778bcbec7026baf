"""Export the bridge's in-process counters to the shared metrics store (`/metrics`, `/health/`).

Counters go out as increments since the last export, so several bridge processes
add up; current values (latency, oldest message age) go out as gauges per process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.bridge.stats import BridgeStats
from users_service.ops import metrics

#: BridgeStats field -> counter name in /metrics.
COUNTERS = {
    "received": "bridge_received_total",
    "published_tasks": "bridge_published_tasks_total",
    "deleted": "bridge_deleted_total",
    "redelivered": "bridge_redelivered_total",
    "ignored": "bridge_ignored_total",
    "transient_failures": "bridge_transient_failures_total",
    "left_for_redelivery": "bridge_left_for_redelivery_total",
    "delete_failures": "bridge_delete_failures_total",
    "handoffs_recorded": "bridge_handoffs_recorded_total",
    "handoff_failures": "bridge_handoff_failures_total",
    "visibility_extensions": "bridge_visibility_extensions_total",
    "batches": "bridge_batches_total",
    "batch_seconds_total": "bridge_batch_seconds_total",
}
DEAD_LETTERED = "bridge_dead_lettered_total"
GAUGES = ("last_batch_seconds", "max_batch_seconds", "oldest_message_age_seconds")


def counter_deltas(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, float]:
    """Series -> increment between two `BridgeStats.snapshot()`s (zero increments left out)."""
    deltas: dict[str, float] = {}
    for field, name in COUNTERS.items():
        delta = now[field] - before.get(field, 0)
        if delta:
            deltas[metrics.series(name)] = delta
    previous = before.get("dead_lettered", {})
    for reason, count in now["dead_lettered"].items():
        delta = count - previous.get(reason, 0)
        if delta:
            deltas[metrics.series(DEAD_LETTERED, {"reason": reason})] = delta
    return deltas


class StatsExporter:
    """Call `export()` periodically and once at exit."""

    def __init__(self, stats: BridgeStats, *, loops: int) -> None:
        self.stats = stats
        self.loops = loops
        self._exported: dict[str, Any] = {}

    def export(self) -> dict[str, float]:
        now = self.stats.snapshot()
        deltas = counter_deltas(now, self._exported)
        metrics.incr_many(deltas)
        metrics.publish_gauges(
            "bridge", {"bridge_loops": self.loops} | {f"bridge_{g}": now[g] for g in GAUGES}
        )
        self._exported = now
        return deltas
