"""Thin wrappers around a real boto3 SNS client (moto behind it), for relay tests.

They never answer for SNS: every response comes from the emulator. One records what SNS
accepted; the other makes the emulator itself refuse chosen entries.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any


class RecordingSns:
    """Counts, per entry id, how often SNS listed it as Successful; and failed calls."""

    def __init__(self, sns: Any) -> None:
        self.sns = sns
        self.accepted: Counter[str] = Counter()
        self.calls: list[list[str]] = []
        self.call_errors = 0
        self._lock = threading.Lock()
        #: Calls wait while this is clear (a test holds them while it rebuilds the emulator's state).
        self.gate = threading.Event()
        self.gate.set()

    def publish_batch(self, **request: Any) -> dict:
        self.gate.wait(60)
        ids = [entry["Id"] for entry in request["PublishBatchRequestEntries"]]
        with self._lock:
            self.calls.append(ids)
        try:
            response = self.sns.publish_batch(**self._prepare(request))
        except Exception:
            with self._lock:
                self.call_errors += 1
            raise
        with self._lock:
            self.accepted.update(entry["Id"] for entry in response.get("Successful", []))
        return response

    def _prepare(self, request: dict) -> dict:
        return request

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sns, name)


class RefusingSns(RecordingSns):
    """Sends the entries in `refuse` with an invalid `MessageStructure`, which SNS (moto) refuses
    per entry with InvalidParameter, while it accepts the rest of the batch. Each id is refused
    `times` times, then passed on unchanged."""

    def __init__(self, sns: Any, refuse: set[str], times: int = 1) -> None:
        super().__init__(sns)
        self.remaining = Counter({event_id: times for event_id in refuse})

    def _prepare(self, request: dict) -> dict:
        entries = []
        for entry in request["PublishBatchRequestEntries"]:
            with self._lock:
                refuse = self.remaining[entry["Id"]] > 0
                if refuse:
                    self.remaining[entry["Id"]] -= 1
            entries.append({**entry, "MessageStructure": "raw"} if refuse else entry)
        return {**request, "PublishBatchRequestEntries": entries}
