"""One received batch, start to end: classify, check the poison limit, publish, dead-letter, delete.

The fate of each message follows from its type (`events.bridge.fates`), and only two things
make a message deletable: the broker accepted its tasks (`Published`), or the DLQ accepted
its copy. A refused publish leaves the messages in SQS, with a visibility that grows with
their receive count, and raises `TransientError` once the batch is settled so the loop backs
off. Between the two, the events handed over are recorded durably (`events.bridge.handoff`):
the broker may lose them later, and once SQS has forgotten them that record is what brings them
back. A record that cannot be written counts as a refused publish: nothing of the batch that was
published is deleted, SQS redelivers it, the deterministic task ids and the inbox make the
second publish harmless.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from events.backoff import redelivery_delay
from events.bridge.celery_publisher import TaskPublisher
from events.bridge.dead_letters import dead_letter
from events.bridge.fates import BatchOutcome, NotPublished, Poison, Publish, Published, classify
from events.bridge.handoff import HandOffLog, handoffs_of
from events.bridge.heartbeat import VisibilityHeartbeat
from events.bridge.intake import Intake
from events.bridge.poison_limit import PoisonLimit
from events.bridge.received import SqsMessage
from events.bridge.routing import RoutingTable
from events.bridge.sqs_batch import SqsQueue
from events.bridge.stats import BridgeStats
from events.errors import TransientError

log = logging.getLogger(__name__)


def _hand_off_fields(fate: Publish) -> dict[str, object]:
    """The ids of a handed-over event for its log record (no payload: it names a person)."""
    envelope = fate.tasks[0].envelope
    fields: dict[str, object] = {
        "event_id": envelope.get("event_id"),
        "trace_id": envelope.get("trace_id"),
        "task_ids": [task.task_id for task in fate.tasks],
        "sqs_message_id": fate.message.message_id,
    }
    if envelope.get("aggregate_type") == "user":
        fields["user_id"] = envelope.get("aggregate_id")
    return fields


@dataclass(frozen=True, kw_only=True)
class BatchHandler:
    queue: SqsQueue
    dlq_url: str
    publisher: TaskPublisher
    intake: Intake
    routes: RoutingTable
    stats: BridgeStats
    poison_limit: PoisonLimit
    heartbeat: VisibilityHeartbeat
    visibility_timeout: int
    #: None: nothing is recorded, the broker is trusted to keep what it accepted.
    handoff_log: HandOffLog | None = None

    def handle(self, messages: Sequence[SqsMessage]) -> BatchOutcome:
        """Publish, dead-letter and delete one batch. Raises `BridgeBroken` (the batch untouched)
        if it trips the poison limit, `TransientError` (after settling it) if the broker refused it."""
        started = time.monotonic()
        received_at = datetime.now(UTC)
        self.stats.count_received(messages)
        fates = [classify(message, intake=self.intake, routes=self.routes) for message in messages]
        self.poison_limit.admit([isinstance(fate, Poison) for fate in fates])
        with self.heartbeat.watch(self.queue, messages):
            ready = [fate for fate in fates if isinstance(fate, Publish)]
            published = self._record(self._publish(ready, started), ready, received_at)
            dead_lettered = dead_letter(
                self.queue.sqs, self.dlq_url, [fate for fate in fates if isinstance(fate, Poison)]
            )
        for fate in dead_lettered:
            self.stats.dead_letter(fate.error.reason)
        outcome = BatchOutcome(received=len(messages), dead_lettered=len(dead_lettered))
        outcome.deleted, failed = self.queue.delete(self._settle(published, dead_lettered, outcome))
        self.stats.add(deleted=outcome.deleted, delete_failures=failed)
        self.stats.batch_done(time.monotonic() - started)
        if isinstance(published, NotPublished):
            raise published.error
        return outcome

    def _publish(self, ready: Sequence[Publish], received_at: float) -> Published | NotPublished:
        messages = [fate.message for fate in ready]
        tasks = [task for fate in ready for task in fate.tasks]
        if tasks:
            try:
                self.publisher.publish(tasks)
            except TransientError as exc:
                self.stats.add(transient_failures=1, left_for_redelivery=len(messages))
                return NotPublished(messages, exc)
        self.stats.add(published_tasks=len(tasks), ignored=sum(1 for fate in ready if not fate.tasks))
        self.stats.handed_off(time.monotonic() - received_at, sum(1 for fate in ready if fate.tasks))
        for fate in ready:
            if fate.tasks:
                log.info(
                    "bridge: %s handed to the broker",
                    fate.tasks[0].envelope.get("event_type"),
                    extra=_hand_off_fields(fate),
                )
        return Published(messages)

    def _record(
        self, published: Published | NotPublished, ready: Sequence[Publish], received_at: datetime
    ) -> Published | NotPublished:
        """Write the hand-off records of a published batch in one write; a failure un-publishes it."""
        if self.handoff_log is None or isinstance(published, NotPublished):
            return published
        handoffs = handoffs_of(ready, received_at=received_at, handed_at=datetime.now(UTC))
        if not handoffs:
            return published
        try:
            self.handoff_log.record(handoffs)
        except TransientError as exc:
            self.stats.add(handoff_failures=1, left_for_redelivery=len(published.messages))
            return NotPublished(published.messages, exc)
        self.stats.add(handoffs_recorded=len(handoffs))
        return published

    def _settle(
        self, published: Published | NotPublished, dead_lettered: Sequence[Poison], outcome: BatchOutcome
    ) -> list[SqsMessage]:
        """The messages that may be deleted now; the refused ones are left for redelivery."""
        deletable = [fate.message for fate in dead_lettered]
        match published:
            case Published(messages=done):
                deletable += done
            case NotPublished(messages=refused, error=error):
                log.warning("batch not handed off, leaving %d messages: %s", len(refused), error)
                self.leave_for_redelivery(refused)
                outcome.left_for_redelivery = len(refused)
        return deletable

    def leave_for_redelivery(self, messages: Sequence[SqsMessage]) -> None:
        """Shorten the messages' visibility by their receive count, so they come back after a backoff."""
        self.queue.change_visibility(
            messages, lambda m: min(self.visibility_timeout, redelivery_delay(m.receive_count))
        )

    def release(self, messages: Sequence[SqsMessage]) -> None:
        """Hand messages straight back to SQS, untouched (received while the bridge was stopping)."""
        self.queue.change_visibility(messages, lambda _m: 0)
