"""A raw SQS consumer for the benchmarks: loops that receive 10 and delete them in one
`delete_message_batch`, counting. It keeps a queue shallow while a relay publishes into it, and
it is the emulator's own drain ceiling."""

from __future__ import annotations

import threading
from typing import Any


class SqsDrain:
    """`threads` receive-and-delete loops on one queue, from `start()` until `stop()`."""

    def __init__(self, sqs: Any, queue_url: str, *, threads: int) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self.count = 0
        self._counted = threading.Condition()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def start(self) -> SqsDrain:
        for thread in self._threads:
            thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                continue
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            with self._counted:
                self.count += len(messages)
                self._counted.notify_all()

    def wait_for(self, total: int, timeout: float) -> bool:
        """True once `total` messages were deleted, False if `timeout` seconds pass first."""
        with self._counted:
            return self._counted.wait_for(lambda: self.count >= total, timeout=timeout)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
