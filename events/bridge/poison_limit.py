"""Stop the bridge when most recent messages are poison: then the bridge (its code, its allow-list,
its schemas) is more likely broken than every sender at once.

Like arroyo's `DlqLimit(max_invalid_ratio=...)`: dead-lettering is right for a few bad
messages, wrong for a queue emptied into the DLQ by a bad deploy. The batch that trips the
limit is left in SQS; should the bridge be restarted unchanged, SQS's own redrive policy
(`maxReceiveCount`) still moves those messages to the DLQ in the end.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Sequence


class BridgeBroken(Exception):
    """Too many recent messages were poison: stop instead of dead-lettering the queue."""


class PoisonLimit:
    """A sliding window over the fates of the last `window` messages, shared by the receive loops.

    `admit` trips once the window holds at least `min_messages` and more than `max_ratio` of them
    are poison; from then on it refuses every batch. `max_ratio >= 1` turns the limit off.
    """

    def __init__(self, *, window: int = 100, min_messages: int = 20, max_ratio: float = 0.5) -> None:
        if not 1 <= min_messages <= window:
            raise ValueError("PoisonLimit needs 1 <= min_messages <= window")
        self.min_messages = min_messages
        self.max_ratio = max_ratio
        self._recent: deque[bool] = deque(maxlen=window)
        self._lock = threading.Lock()
        self._tripped: str | None = None

    def admit(self, poison: Sequence[bool]) -> None:
        """Count a batch (one flag per message: poison or not); raise `BridgeBroken` if it trips the limit."""
        with self._lock:
            if self._tripped is None:
                self._recent.extend(poison)
                bad, seen = sum(self._recent), len(self._recent)
                if seen >= self.min_messages and bad > self.max_ratio * seen:
                    self._tripped = (
                        f"{bad} of the last {seen} messages were poison (limit {self.max_ratio:.0%}): "
                        "the bridge looks broken (allow-list, schemas, routing table or code); "
                        "stopping with the batch left in SQS"
                    )
            if self._tripped is not None:
                raise BridgeBroken(self._tripped)
