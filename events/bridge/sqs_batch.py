"""The SQS calls of the bridge, ten messages a call: receive, delete, change visibility.

Network and API errors of a receive are `TransientError` (the loop backs off); deletes retry
the entries SQS failed on its side; a visibility change is best effort (at worst the message
comes back after the queue's own visibility timeout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from events.aws import AWS_CALL_ERRORS
from events.bridge.received import SqsMessage
from events.errors import TransientError
from events.tracecontext import TRACEPARENT

log = logging.getLogger(__name__)

SQS_BATCH_LIMIT = 10
T = TypeVar("T")


def chunks(items: Sequence[T], size: int = SQS_BATCH_LIMIT) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class SqsQueue:
    """One queue through one client."""

    def __init__(self, sqs: Any, queue_url: str, *, delete_attempts: int = 3) -> None:
        self.sqs = sqs
        self.url = queue_url
        self.delete_attempts = delete_attempts

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[SqsMessage]:
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=[TRACEPARENT],
            )
        except AWS_CALL_ERRORS as exc:
            raise TransientError(f"receive failed: {exc}") from exc
        messages = response.get("Messages") if isinstance(response, dict) else None
        return [SqsMessage.from_sqs(m) for m in messages] if isinstance(messages, list) else []

    def delete(self, messages: Sequence[SqsMessage]) -> tuple[int, int]:
        """Delete in chunks of ten, retrying entries SQS failed on its side (not sender faults).

        Returns (deleted, not deleted); a message not deleted is redelivered later.
        """
        deletable = [m for m in messages if m.receipt_handle is not None]
        deleted, failed = 0, len(messages) - len(deletable)
        for chunk in chunks(deletable):
            pending = {str(i): m.receipt_handle for i, m in enumerate(chunk)}
            for _attempt in range(self.delete_attempts):
                try:
                    response = self.sqs.delete_message_batch(
                        QueueUrl=self.url, Entries=[{"Id": i, "ReceiptHandle": h} for i, h in pending.items()]
                    )
                except AWS_CALL_ERRORS as exc:
                    log.warning("delete of %d messages failed: %s", len(pending), exc)
                    continue
                for entry in response.get("Successful", []):
                    if pending.pop(entry.get("Id"), None) is not None:
                        deleted += 1
                for entry in response.get("Failed", []):
                    if entry.get("SenderFault") and pending.pop(entry.get("Id"), None) is not None:
                        # A stale or invalid receipt handle: retrying cannot help.
                        log.warning("delete refused for entry %s: %s", entry.get("Id"), entry.get("Code"))
                        failed += 1
                if not pending:
                    break
            failed += len(pending)
        if failed:
            log.warning("%d messages not deleted; they will be redelivered", failed)
        return deleted, failed

    def change_visibility(self, messages: Sequence[SqsMessage], seconds: Callable[[SqsMessage], int]) -> int:
        """Set each message's visibility timeout to `seconds(message)`; returns how many SQS accepted."""
        accepted = 0
        handled = [m for m in messages if m.receipt_handle is not None]
        for chunk in chunks(handled):
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds(m)}
                for i, m in enumerate(chunk)
            ]
            try:
                response = self.sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
            except AWS_CALL_ERRORS as exc:
                log.warning("visibility of %d messages not changed: %s", len(chunk), exc)
                continue
            accepted += len(response.get("Successful", []))
        return accepted
