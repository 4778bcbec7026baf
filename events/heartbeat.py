"""Keep a batch's messages invisible while the bridge still works on them.

A publish that takes longer than the queue's visibility timeout would let SQS hand
the same messages to another loop while they are in flight; the heartbeat extends
their visibility with `change_message_visibility_batch` every `interval` seconds.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

SQS_BATCH_LIMIT = 10


class VisibilityHeartbeat:
    """Context manager: while inside, extend the messages' visibility to `extend_to` every `interval` s."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        messages: Sequence[dict[str, Any]],
        *,
        interval: float,
        extend_to: int,
        on_extended: Callable[[int], None] | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.handles = [m["ReceiptHandle"] for m in messages]
        self.interval = interval
        self.extend_to = extend_to
        self.on_extended = on_extended
        self.extensions = 0
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> VisibilityHeartbeat:
        if self.handles and self.interval > 0:
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
            extended = self.extend()
            self.extensions += 1
            if self.on_extended is not None:
                self.on_extended(extended)

    def extend(self) -> int:
        """One extension of every message; returns how many SQS accepted."""
        accepted = 0
        for start in range(0, len(self.handles), SQS_BATCH_LIMIT):
            chunk = self.handles[start : start + SQS_BATCH_LIMIT]
            try:
                response = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self.extend_to}
                        for i, h in enumerate(chunk)
                    ],
                )
            except (BotoCoreError, ClientError) as exc:
                # The heartbeat never decides a message's fate: at worst SQS redelivers
                # it, and the deterministic task ids make that harmless.
                log.warning("visibility not extended for %d messages: %s", len(chunk), exc)
                continue
            accepted += len(response.get("Successful", []))
        return accepted
