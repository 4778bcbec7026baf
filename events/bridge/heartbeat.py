"""Keep a batch's messages invisible while the bridge still works on them.

A publish that takes longer than the queue's visibility timeout would let SQS hand
the same messages to another loop while they are in flight; the heartbeat extends
their visibility every `interval` seconds. It never decides a message's fate: at worst
SQS redelivers a message, and the deterministic task ids make that harmless.

One thread serves every loop of the bridge, started with a batch and ended after ten idle
ticks: a thread per batch cost each batch a thread start and join, a fifth of a loop's
time in a profile (bench/bridge_drain), for batches that almost never need an extension.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from events.bridge.received import SqsMessage
from events.bridge.sqs_batch import SqsQueue

#: Ticks without a batch after which the thread ends (the next batch starts another).
_IDLE_TICKS = 10


@dataclass
class _Watched:
    queue: SqsQueue
    messages: Sequence[SqsMessage]
    due: float


class VisibilityHeartbeat:
    """`with heartbeat.watch(queue, messages):` extends the messages' visibility to `extend_to`
    every `interval` seconds while inside; `interval <= 0` turns it off."""

    def __init__(
        self, *, interval: float, extend_to: int, on_extended: Callable[[int], None] | None = None
    ) -> None:
        self.interval = interval
        self.extend_to = extend_to
        self.on_extended = on_extended
        #: How often the thread looks for batches due: often enough to be on time within a tenth.
        self.tick = min(1.0, max(0.01, interval / 10))
        self._watched: dict[int, _Watched] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def watch(self, queue: SqsQueue, messages: Sequence[SqsMessage]) -> Iterator[None]:
        if self.interval <= 0 or not messages:
            yield
            return
        watched = _Watched(queue, messages, time.monotonic() + self.interval)
        with self._lock:
            self._watched[id(watched)] = watched
            if self._thread is None:
                self._thread = threading.Thread(target=self._beat, name="bridge-heartbeat", daemon=True)
                self._thread.start()
        try:
            yield
        finally:
            with self._lock:
                del self._watched[id(watched)]

    def _beat(self) -> None:
        idle = 0
        while True:
            time.sleep(self.tick)
            now = time.monotonic()
            with self._lock:
                idle = 0 if self._watched else idle + 1
                if idle >= _IDLE_TICKS:
                    self._thread = None
                    return
                due = [w for w in self._watched.values() if w.due <= now]
            for watched in due:
                watched.due = now + self.interval
                extended = watched.queue.change_visibility(watched.messages, lambda _m: self.extend_to)
                if self.on_extended is not None:
                    self.on_extended(extended)
