"""One received batch, start to end: classify, check the poison limit, publish, dead-letter, delete.

The fate of each message follows from its type (`events.bridge.fates`), and only two things
make a message deletable: the broker accepted its tasks (`Published`), or the DLQ accepted
its copy. A refused publish leaves the messages in SQS, with a visibility that grows with
their receive count, and raises `TransientError` once the batch is settled so the loop backs
off. A step that must happen after the broker took a batch and before SQS forgets it (a
durable record of the hand-off, say) belongs in `_settle`, the one place that picks what is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from events.backoff import redelivery_delay
from events.bridge.celery_publisher import TaskPublisher
from events.bridge.dead_letters import dead_letter
from events.bridge.fates import BatchOutcome, NotPublished, Poison, Publish, Published, classify
from events.bridge.heartbeat import VisibilityHeartbeat
from events.bridge.intake import Intake
from events.bridge.poison_limit import PoisonLimit
from events.bridge.received import SqsMessage
from events.bridge.routing import RoutingTable
from events.bridge.sqs_batch import SqsQueue
from events.bridge.stats import BridgeStats
from events.errors import TransientError

log = logging.getLogger(__name__)


class BatchHandler:
    def __init__(
        self,
        *,
        queue: SqsQueue,
        dlq_url: str,
        publisher: TaskPublisher,
        intake: Intake,
        routes: RoutingTable,
        stats: BridgeStats,
        poison_limit: PoisonLimit,
        heartbeat: VisibilityHeartbeat,
        visibility_timeout: int,
    ) -> None:
        self.queue = queue
        self.dlq_url = dlq_url
        self.publisher = publisher
        self.intake = intake
        self.routes = routes
        self.stats = stats
        self.poison_limit = poison_limit
        self.heartbeat = heartbeat
        self.visibility_timeout = visibility_timeout

    def handle(self, messages: Sequence[SqsMessage]) -> BatchOutcome:
        """Publish, dead-letter and delete one batch. Raises `BridgeBroken` (the batch untouched)
        if it trips the poison limit, `TransientError` (after settling it) if the broker refused it."""
        started = time.monotonic()
        self.stats.count_received(messages)
        fates = [classify(message, intake=self.intake, routes=self.routes) for message in messages]
        self.poison_limit.admit([isinstance(fate, Poison) for fate in fates])
        with self.heartbeat.watch(self.queue, messages):
            published = self._publish([fate for fate in fates if isinstance(fate, Publish)], started)
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
        return Published(messages)

    def _settle(
        self, published: Published | NotPublished, dead_lettered: Sequence[Poison], outcome: BatchOutcome
    ) -> list[SqsMessage]:
        """The messages that may be deleted now; the refused ones are left for redelivery."""
        deletable = [fate.message for fate in dead_lettered]
        match published:
            case Published(messages=done):
                deletable += done
            case NotPublished(messages=refused, error=error):
                log.warning("broker refused the batch, leaving %d messages: %s", len(refused), error)
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
