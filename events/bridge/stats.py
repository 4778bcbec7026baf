"""The bridge's counters, shared by its receive loops (exported by users_service/bridge/stats_export.py).

events/ names no metric: the service passes in what observes each batch's duration and each
message's hand-off time (its Prometheus histograms), and exports the counters under its own names.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from events.bridge.received import SqsMessage


@dataclass
class BridgeStats:
    """Counters shared by the receive loops (thread-safe)."""

    received: int = 0
    published_tasks: int = 0
    deleted: int = 0
    redelivered: int = 0
    ignored: int = 0
    transient_failures: int = 0
    left_for_redelivery: int = 0
    delete_failures: int = 0
    #: Events whose hand-off record was written, and batches whose record could not be.
    handoffs_recorded: int = 0
    handoff_failures: int = 0
    visibility_extensions: int = 0
    batches: int = 0
    batch_seconds_total: float = 0.0
    dead_lettered: Counter = field(default_factory=Counter)
    last_batch_seconds: float = 0.0
    max_batch_seconds: float = 0.0
    oldest_message_age_seconds: float = 0.0
    #: Called with each batch's seconds, receipt to delete.
    observe_batch: Callable[[float], None] | None = field(default=None, repr=False)
    #: Called once per message whose tasks the broker accepted, with the seconds since its receipt.
    observe_handoff: Callable[[float], None] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_received(self, messages: Sequence[SqsMessage]) -> None:
        """Count a received batch: how many, how many redelivered, and the age of the oldest."""
        now_ms = time.time() * 1000
        sent = [m.sent_timestamp_ms for m in messages if m.sent_timestamp_ms is not None]
        with self._lock:
            self.received += len(messages)
            self.redelivered += sum(1 for m in messages if m.receive_count > 1)
            self.oldest_message_age_seconds = max(0.0, (now_ms - min(sent)) / 1000) if sent else 0.0

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def dead_letter(self, reason: str) -> None:
        with self._lock:
            self.dead_lettered[reason] += 1

    def batch_done(self, seconds: float) -> None:
        with self._lock:
            self.batches += 1
            self.batch_seconds_total += seconds
            self.last_batch_seconds = seconds
            self.max_batch_seconds = max(self.max_batch_seconds, seconds)
        if self.observe_batch is not None:
            self.observe_batch(seconds)

    def handed_off(self, seconds: float, messages: int) -> None:
        """`messages` messages' tasks reached the broker `seconds` after the batch was received."""
        if self.observe_handoff is not None:
            for _ in range(messages):
                self.observe_handoff(seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "published_tasks": self.published_tasks,
                "deleted": self.deleted,
                "redelivered": self.redelivered,
                "ignored": self.ignored,
                "transient_failures": self.transient_failures,
                "left_for_redelivery": self.left_for_redelivery,
                "delete_failures": self.delete_failures,
                "handoffs_recorded": self.handoffs_recorded,
                "handoff_failures": self.handoff_failures,
                "visibility_extensions": self.visibility_extensions,
                "dead_lettered": dict(self.dead_lettered),
                "batches": self.batches,
                "batch_seconds_total": round(self.batch_seconds_total, 4),
                "last_batch_seconds": round(self.last_batch_seconds, 4),
                "max_batch_seconds": round(self.max_batch_seconds, 4),
                "oldest_message_age_seconds": round(self.oldest_message_age_seconds, 3),
            }
