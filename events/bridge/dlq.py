"""Browse, redrive and purge the dead-letter queue (used by `manage.py users dlq` and the admin).

SQS has no "peek": browsing receives the messages (hiding them for a moment) and
makes them visible again at once. Redrive copies a message's original body back
to the main queue and deletes it from the DLQ only after SQS accepted the copy.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from events.aws import AwsSettings, client
from events.bridge.dead_letters import DeadLetter
from events.bridge.sqs_batch import SQS_BATCH_LIMIT, chunks
from events.topology import TopologyNames

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters an operation applies to; empty fields match everything."""

    reasons: frozenset[str] = frozenset()
    event_types: frozenset[str] = frozenset()
    message_ids: frozenset[str] = frozenset()
    #: Text any of which the body holds, case-insensitively: a user's id finds the messages about
    #: them, broken ones too (an erase purges them; the body may not even parse).
    mentions: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.reasons or self.event_types or self.message_ids or self.mentions)

    def matches(self, letter: DeadLetter) -> bool:
        return (
            (not self.reasons or letter.reason in self.reasons)
            and (not self.event_types or letter.event_type in self.event_types)
            and (not self.message_ids or letter.message_id in self.message_ids)
            and (not self.mentions or any(text.lower() in letter.body.lower() for text in self.mentions))
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DeadLetterQueue:
        """The DLQ and the main queue looked up by their configured names (no topology change,
        safe from a web request or a task)."""
        sqs = client("sqs", AwsSettings.from_env(env), read_timeout=10)
        names = TopologyNames.from_env(env)
        return cls(
            sqs,
            dlq_url=sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"],
            queue_url=sqs.get_queue_url(QueueName=names.queue)["QueueUrl"],
        )

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
        for chunk in chunks(letters):
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
        for chunk in chunks(chosen):
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
        for chunk in chunks(letters):
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
