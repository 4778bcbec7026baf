"""Keep a batch's messages invisible while the bridge still works on them.

A publish that takes longer than the queue's visibility timeout would let SQS hand
the same messages to another loop while they are in flight; the heartbeat extends
their visibility every `interval` seconds. It never decides a message's fate: at worst
SQS redelivers a message, and the deterministic task ids make that harmless.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from types import TracebackType

from events.bridge.received import SqsMessage
from events.bridge.sqs_batch import SqsQueue


class VisibilityHeartbeat:
    """Context manager: while inside, extend the messages' visibility to `extend_to` every `interval` s."""

    def __init__(
        self,
        queue: SqsQueue,
        messages: Sequence[SqsMessage],
        *,
        interval: float,
        extend_to: int,
        on_extended: Callable[[int], None] | None = None,
    ) -> None:
        self.queue = queue
        self.messages = list(messages)
        self.interval = interval
        self.extend_to = extend_to
        self.on_extended = on_extended
        self.extensions = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> VisibilityHeartbeat:
        if self.messages and self.interval > 0:
            self._thread = threading.Thread(target=self._beat, name="bridge-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._done.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.interval):
            extended = self.queue.change_visibility(self.messages, lambda _m: self.extend_to)
            self.extensions += 1
            if self.on_extended is not None:
                self.on_extended(extended)
