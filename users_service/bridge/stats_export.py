"""The bridge's figures as the users service's Prometheus metrics (declared in users_service/ops/metrics.py).

`BridgeStats` (events/, no metric names) counts in memory; `bridge_stats()` hands it the
histograms to observe, and `StatsExporter.export()` adds the counters' increments since its last
call and sets the gauges. In multiprocess mode the bridge's samples reach the web's `/metrics`
through the shared directory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from events.bridge.stats import BridgeStats
from users_service.ops import metrics


def bridge_stats() -> BridgeStats:
    """A `BridgeStats` whose batch and hand-off times go to the bridge's histograms."""
    return BridgeStats(
        observe_batch=metrics.BRIDGE_BATCH_SECONDS.observe,
        observe_handoff=metrics.BRIDGE_HANDOFF_SECONDS.observe,
    )


def counter_deltas(now: Mapping[str, Any], before: Mapping[str, Any]) -> dict[str, float]:
    """BridgeStats counter field (or `dead_lettered:<reason>`) -> increment between two snapshots."""
    deltas: dict[str, float] = {}
    for field in metrics.BRIDGE_COUNTERS:
        delta = now[field] - before.get(field, 0)
        if delta:
            deltas[field] = delta
    previous = before.get("dead_lettered", {})
    for reason, count in now["dead_lettered"].items():
        delta = count - previous.get(reason, 0)
        if delta:
            deltas[f"dead_lettered:{reason}"] = delta
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
        for key, amount in deltas.items():
            if key.startswith("dead_lettered:"):
                metrics.BRIDGE_DEAD_LETTERED.labels(reason=key.split(":", 1)[1]).inc(amount)
            else:
                metrics.BRIDGE_COUNTERS[key].inc(amount)
        metrics.BRIDGE_OLDEST_MESSAGE_AGE.set(now["oldest_message_age_seconds"])
        metrics.BRIDGE_LOOPS.set(self.loops)
        self._exported = now
        return deltas
