"""The batches the receive loops hold between receive and delete: what a stop waits for, and all it
waits for (events/bridge/loops.py)."""

from __future__ import annotations

import threading


class InHand:
    """How many batches the loops hold between receive and delete; a stop waits for these only."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._count = 0

    def take(self, stop: threading.Event) -> bool:
        """Claim a batch just received, unless the bridge is stopping (checked under the same lock)."""
        with self._changed:
            if stop.is_set():
                return False
            self._count += 1
            return True

    def done(self) -> None:
        with self._changed:
            self._count -= 1
            self._changed.notify_all()

    def wait_empty(self, timeout: float) -> int:
        """Wait until no batch is in hand or `timeout` passes; returns how many are still in hand."""
        with self._changed:
            self._changed.wait_for(lambda: self._count == 0, timeout)
            return self._count
