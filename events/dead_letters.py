"""Browse, redrive and purge the dead-letter queue (used by `manage.py users dlq` and the admin).

SQS has no "peek": browsing receives the messages (hiding them for a moment) and
makes them visible again at once. Redrive copies a message's original body back
to the main queue and deletes it from the DLQ only after SQS accepted the copy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from events.bridge import DLQ_DETAIL_ATTRIBUTE, DLQ_REASON_ATTRIBUTE, SQS_BATCH_LIMIT

log = logging.getLogger(__name__)

#: Reason shown for messages SQS moved by itself (the queue's maxReceiveCount redrive policy).
REASON_MAX_RECEIVES = "max_receive_count"


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ, with what the bridge recorded about it."""

    message_id: str
    receipt_handle: str
    body: str
    reason: str
    detail: str
    source_message_id: str
    sent_at: datetime | None
    receive_count: int
    event_type: str | None
    event_id: str | None

    @classmethod
    def from_sqs(cls, message: dict[str, Any]) -> DeadLetter:
        attributes = message.get("MessageAttributes", {})
        system = message.get("Attributes", {})
        event_type, event_id = _event_identity(message["Body"])
        sent = system.get("SentTimestamp")
        return cls(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            body=message["Body"],
            reason=attributes.get(DLQ_REASON_ATTRIBUTE, {}).get("StringValue", REASON_MAX_RECEIVES),
            detail=attributes.get(DLQ_DETAIL_ATTRIBUTE, {}).get("StringValue", ""),
            source_message_id=attributes.get("source_message_id", {}).get("StringValue", ""),
            sent_at=datetime.fromtimestamp(int(sent) / 1000, UTC) if sent else None,
            receive_count=int(system.get("ApproximateReceiveCount", "1")),
            event_type=event_type,
            event_id=event_id,
        )


def _event_identity(body: str) -> tuple[str | None, str | None]:
    """Best effort: the event type and id inside a (maybe SNS-wrapped, maybe broken) body."""
    try:
        data = json.loads(body)
        if isinstance(data, dict) and data.get("Type") == "Notification":
            data = json.loads(data.get("Message", ""))
    except (ValueError, TypeError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    event_type, event_id = data.get("event_type"), data.get("event_id")
    return (
        event_type if isinstance(event_type, str) else None,
        event_id if isinstance(event_id, str) else None,
    )


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters an operation applies to; empty fields match everything."""

    reasons: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    message_ids: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.reasons or self.event_types or self.message_ids)

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.event_types or letter.event_type in self.event_types)
            and (not self.message_ids or letter.message_id in self.message_ids)
        )


@dataclass
class RedriveResult:
    redriven: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class DeadLetterQueue:
    def __init__(self, sqs: Any, *, dlq_url: str, queue_url: str, hold_seconds: int = 30) -> None:
        self.sqs = sqs
        self.dlq_url = dlq_url
        self.queue_url = queue_url
        #: How long browsed messages stay hidden at most, should a release fail.
        self.hold_seconds = hold_seconds

    def depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"])

    def _receive_all(self, limit: int) -> list[DeadLetter]:
        """Receive up to `limit` distinct messages, hidden until released or deleted."""
        seen: dict[str, DeadLetter] = {}
        while len(seen) < limit:
            batch = self.sqs.receive_message(
                QueueUrl=self.dlq_url,
                MaxNumberOfMessages=min(SQS_BATCH_LIMIT, limit - len(seen)),
                WaitTimeSeconds=0,
                VisibilityTimeout=self.hold_seconds,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["All"],
            ).get("Messages", [])
            if not batch:
                break
            for message in batch:
                seen.setdefault(message["MessageId"], DeadLetter.from_sqs(message))
        return list(seen.values())

    def _release(self, letters: Sequence[DeadLetter]) -> None:
        """Make messages visible again at once."""
        for chunk in _chunks(letters, SQS_BATCH_LIMIT):
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": letter.receipt_handle, "VisibilityTimeout": 0}
                    for i, letter in enumerate(chunk)
                ],
            )

    def browse(self, where: DeadLetterFilter | None = None, *, limit: int = 100) -> list[DeadLetter]:
        """The dead letters matching `where`, oldest first; the queue is left as it was."""
        where = where or DeadLetterFilter()
        letters = self._receive_all(limit)
        self._release(letters)
        matching = [letter for letter in letters if where.matches(letter)]
        return sorted(matching, key=lambda letter: letter.sent_at or datetime.min.replace(tzinfo=UTC))

    def redrive(self, where: DeadLetterFilter, *, limit: int = 1000) -> RedriveResult:
        """Send matching messages back to the main queue (original body), then delete them here."""
        letters = self._receive_all(limit)
        chosen = [letter for letter in letters if where.matches(letter)]
        self._release([letter for letter in letters if not where.matches(letter)])
        result = RedriveResult()
        for chunk in _chunks(chosen, SQS_BATCH_LIMIT):
            response = self.sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "MessageBody": letter.body} for i, letter in enumerate(chunk)],
            )
            sent = [chunk[int(entry["Id"])] for entry in response.get("Successful", [])]
            refused = [chunk[int(entry["Id"])] for entry in response.get("Failed", [])]
            self._delete(sent)
            self._release(refused)
            result.redriven.extend(letter.message_id for letter in sent)
            result.failed.extend(letter.message_id for letter in refused)
        return result

    def purge(self, where: DeadLetterFilter, *, limit: int = 1000) -> list[str]:
        """Delete matching messages for good; returns their ids."""
        letters = self._receive_all(limit)
        chosen = [letter for letter in letters if where.matches(letter)]
        self._release([letter for letter in letters if not where.matches(letter)])
        self._delete(chosen)
        return [letter.message_id for letter in chosen]

    def _delete(self, letters: Sequence[DeadLetter]) -> None:
        for chunk in _chunks(letters, SQS_BATCH_LIMIT):
            response = self.sqs.delete_message_batch(
                QueueUrl=self.dlq_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": letter.receipt_handle} for i, letter in enumerate(chunk)
                ],
            )
            for entry in response.get("Failed", []):
                # The message reappears in the DLQ; a redriven one is then in both queues,
                # which the deterministic task ids and the inbox make harmless.
                log.warning(
                    "DLQ delete failed for %s: %s", chunk[int(entry["Id"])].message_id, entry.get("Code")
                )


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
