"""The SQS bridge: drain the queue and fan each event out as Celery tasks.

For each received batch: unwrap (SNS-wrapped or raw), check the topic against
the allow-list, validate the envelope, look its type up in the routing table,
publish every task of the batch to the broker in one go, and only then delete
the messages. The fate of a message follows from the exception type:

* `InvalidMessage`  -> copied to the DLQ with the reason, deleted from the queue;
* `TransientError`  -> left alone: SQS redelivers it after the visibility timeout;
* success           -> deleted.

Anything else is a bug: the loop stops and SQS redelivers. Fates and publish
results are explicit types (`Publish`/`Poison`, `Published`/`NotPublished`),
never truthy values, so that a refused batch can never be taken for success.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from events.aws import AWS_CALL_ERRORS
from events.backoff import Backoff, redelivery_delay
from events.envelope import MAX_ENVELOPE_BYTES, REASON_BAD_JSON, REASON_TOO_LARGE, Envelope
from events.errors import InvalidMessage, TransientError
from events.heartbeat import VisibilityHeartbeat

log = logging.getLogger(__name__)

SQS_BATCH_LIMIT = 10
REASON_FORGED_TOPIC = "topic_not_allowed"
REASON_UNROUTABLE = "unroutable"
DLQ_REASON_ATTRIBUTE = "dead_letter_reason"
DLQ_DETAIL_ATTRIBUTE = "dead_letter_detail"


@dataclass(frozen=True)
class Route:
    """One task an event type fans out to."""

    task: str
    queue: str


RoutingTable = Mapping[str, Sequence[Route]]


@dataclass(frozen=True)
class TaskMessage:
    task_id: str
    task: str
    queue: str
    envelope: dict[str, Any]


class TaskPublisher(Protocol):
    def publish(self, tasks: Sequence[TaskMessage]) -> None:
        """Hand every task to the broker or raise `TransientError`; nothing in between."""

    def close(self) -> None:
        """Release connections (called once, when the bridge stops)."""


def task_id_for(event_id: str, task: str) -> str:
    """Deterministic task id: a redelivered event produces the same ids."""
    return f"{event_id}:{task}"


@dataclass
class BridgeStats:
    """Counters shared by the receive loops (thread-safe)."""

    received: int = 0
    published_tasks: int = 0
    deleted: int = 0
    redelivered: int = 0
    ignored: int = 0
    transient_failures: int = 0
    left_for_redelivery: int = 0
    delete_failures: int = 0
    visibility_extensions: int = 0
    batches: int = 0
    batch_seconds_total: float = 0.0
    dead_lettered: Counter = field(default_factory=Counter)
    last_batch_seconds: float = 0.0
    max_batch_seconds: float = 0.0
    oldest_message_age_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def dead_letter(self, reason: str) -> None:
        with self._lock:
            self.dead_lettered[reason] += 1

    def batch_done(self, seconds: float) -> None:
        with self._lock:
            self.batches += 1
            self.batch_seconds_total += seconds
            self.last_batch_seconds = seconds
            self.max_batch_seconds = max(self.max_batch_seconds, seconds)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "published_tasks": self.published_tasks,
                "deleted": self.deleted,
                "redelivered": self.redelivered,
                "ignored": self.ignored,
                "transient_failures": self.transient_failures,
                "left_for_redelivery": self.left_for_redelivery,
                "delete_failures": self.delete_failures,
                "visibility_extensions": self.visibility_extensions,
                "dead_lettered": dict(self.dead_lettered),
                "batches": self.batches,
                "batch_seconds_total": round(self.batch_seconds_total, 4),
                "last_batch_seconds": round(self.last_batch_seconds, 4),
                "max_batch_seconds": round(self.max_batch_seconds, 4),
                "oldest_message_age_seconds": round(self.oldest_message_age_seconds, 3),
            }


# -- a message's fate: explicit types, never a truthy/falsy result ----------
@dataclass(frozen=True)
class Publish:
    """The message is valid: publish these tasks (maybe none), then delete it."""

    message: dict[str, Any]
    tasks: list[TaskMessage]


@dataclass(frozen=True)
class Poison:
    """The message can never succeed: copy it to the DLQ with the reason, then delete it."""

    message: dict[str, Any]
    error: InvalidMessage


Fate = Publish | Poison


@dataclass(frozen=True)
class Published:
    """The broker accepted every task of these messages: they may be deleted."""

    messages: list[dict[str, Any]]


@dataclass(frozen=True)
class NotPublished:
    """The broker refused: the messages stay in SQS for redelivery."""

    messages: list[dict[str, Any]]
    error: TransientError


@dataclass
class BatchOutcome:
    received: int = 0
    deleted: int = 0
    dead_lettered: int = 0
    left_for_redelivery: int = 0


#: Errors of the SQS API or the network in front of it: transient for the loop.
SQS_ERRORS = AWS_CALL_ERRORS


class Bridge:
    def __init__(
        self,
        *,
        sqs: Any,
        queue_url: str,
        dlq_url: str,
        publisher: TaskPublisher,
        routes: RoutingTable,
        allowed_topic_arns: Iterable[str],
        wait_seconds: int = 5,
        max_messages: int = SQS_BATCH_LIMIT,
        stats: BridgeStats | None = None,
        max_backoff_seconds: float = 30.0,
        visibility_timeout: int = 30,
        heartbeat_seconds: float | None = None,
        delete_attempts: int = 3,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.publisher = publisher
        self.routes = routes
        self.allowed_topic_arns = frozenset(allowed_topic_arns)
        self.wait_seconds = wait_seconds
        self.max_messages = max(1, min(max_messages, SQS_BATCH_LIMIT))
        self.stats = stats or BridgeStats()
        self.max_backoff_seconds = max_backoff_seconds
        #: What the heartbeat extends a slow batch's visibility to, each time.
        self.visibility_timeout = visibility_timeout
        #: Extend after this long in a batch (and again each interval); a third of the timeout by default.
        self.heartbeat_seconds = visibility_timeout / 3 if heartbeat_seconds is None else heartbeat_seconds
        self.delete_attempts = delete_attempts

    # -- one message -------------------------------------------------------
    def decode(self, body: str) -> Envelope:
        """The envelope inside an SQS body, SNS-wrapped or raw; raises `InvalidMessage`."""
        outer = parse_body(body)
        if isinstance(outer, dict) and outer.get("Type") == "Notification" and "Message" in outer:
            topic = outer.get("TopicArn")
            if topic not in self.allowed_topic_arns:
                raise InvalidMessage(REASON_FORGED_TOPIC, f"TopicArn {topic!r} is not allowed")
            return Envelope.from_json(outer["Message"])
        return Envelope.from_dict(outer)

    def plan(self, envelope: Envelope) -> list[TaskMessage]:
        """The tasks an event fans out to, per the routing table."""
        if envelope.event_type not in self.routes:
            raise InvalidMessage(REASON_UNROUTABLE, f"no route for {envelope.event_type}")
        data = envelope.to_dict()
        return [
            TaskMessage(task_id_for(envelope.event_id, r.task), r.task, r.queue, data)
            for r in self.routes[envelope.event_type]
        ]

    def classify(self, message: dict[str, Any]) -> Fate:
        """Decide what becomes of one message. Only `InvalidMessage` means poison."""
        try:
            return Publish(message, self.plan(self.decode(message["Body"])))
        except InvalidMessage as exc:
            return Poison(message, exc)

    # -- one batch ---------------------------------------------------------
    def receive(self) -> list[dict[str, Any]]:
        try:
            response = self.sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=self.max_messages,
                WaitTimeSeconds=self.wait_seconds,
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
        except SQS_ERRORS as exc:
            raise TransientError(f"receive failed: {exc}") from exc
        return response.get("Messages", [])

    def process_batch(self, messages: Sequence[dict[str, Any]]) -> BatchOutcome:
        """Publish, dead-letter and delete one received batch.

        Raises `TransientError` after the batch is settled if the broker refused it,
        so that the loop backs off; the refused messages are then still in SQS.
        """
        started = time.monotonic()
        outcome = BatchOutcome(received=len(messages))
        self._count_received(messages)
        fates = [self.classify(message) for message in messages]
        to_publish = [fate for fate in fates if isinstance(fate, Publish)]
        poison = [fate for fate in fates if isinstance(fate, Poison)]

        with VisibilityHeartbeat(
            self.sqs,
            self.queue_url,
            messages,
            interval=self.heartbeat_seconds,
            extend_to=self.visibility_timeout,
            on_extended=lambda _n: self.stats.add(visibility_extensions=1),
        ):
            published = self._publish(to_publish)
            dead_lettered = self._dead_letter(poison)

        deletable = dead_lettered
        refused: NotPublished | None = None
        match published:
            case Published(messages=done):
                deletable = done + dead_lettered
            case NotPublished() as refused:
                log.warning(
                    "broker refused the batch, leaving %d messages: %s", len(refused.messages), refused.error
                )
                self._leave_for_redelivery(refused.messages)
                outcome.left_for_redelivery = len(refused.messages)
        outcome.dead_lettered = len(dead_lettered)
        outcome.deleted = self._delete(deletable)
        self.stats.batch_done(time.monotonic() - started)
        if refused is not None:
            raise refused.error
        return outcome

    def _publish(self, ready: Sequence[Publish]) -> Published | NotPublished:
        messages = [fate.message for fate in ready]
        tasks = [task for fate in ready for task in fate.tasks]
        if tasks:
            try:
                self.publisher.publish(tasks)
            except TransientError as exc:
                self.stats.add(transient_failures=1, left_for_redelivery=len(messages))
                return NotPublished(messages, exc)
        self.stats.add(published_tasks=len(tasks), ignored=sum(1 for fate in ready if not fate.tasks))
        return Published(messages)

    def _leave_for_redelivery(self, messages: Sequence[dict[str, Any]]) -> None:
        """Shorten the messages' visibility by their receive count, so they come back after a backoff."""
        entries = [
            {
                "Id": str(i),
                "ReceiptHandle": m["ReceiptHandle"],
                "VisibilityTimeout": min(
                    self.visibility_timeout,
                    redelivery_delay(int(m.get("Attributes", {}).get("ApproximateReceiveCount", "1"))),
                ),
            }
            for i, m in enumerate(messages)
        ]
        for chunk in _chunks(entries, SQS_BATCH_LIMIT):
            try:
                self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=chunk)
            except SQS_ERRORS as exc:
                # Harmless: the message comes back after the queue's own visibility timeout.
                log.warning("could not shorten visibility of %d messages: %s", len(chunk), exc)

    def _count_received(self, messages: Sequence[dict[str, Any]]) -> None:
        now_ms = time.time() * 1000
        redelivered = 0
        oldest = 0.0
        for message in messages:
            attributes = message.get("Attributes", {})
            if int(attributes.get("ApproximateReceiveCount", "1")) > 1:
                redelivered += 1
            sent = attributes.get("SentTimestamp")
            if sent:
                oldest = max(oldest, (now_ms - int(sent)) / 1000)
        self.stats.add(received=len(messages), redelivered=redelivered)
        self.stats.oldest_message_age_seconds = oldest

    def _dead_letter(self, poison: Sequence[Poison]) -> list[dict[str, Any]]:
        """Copy poison messages to the DLQ with their reason; returns those the DLQ accepted.

        A message the DLQ did not take stays in the main queue (not deleted): it is
        dead-lettered again when it comes back, or by the queue's redrive policy.
        """
        accepted: list[dict[str, Any]] = []
        for chunk in _chunks(list(poison), SQS_BATCH_LIMIT):
            entries = []
            for index, fate in enumerate(chunk):
                message, exc = fate.message, fate.error
                log.warning("dead-lettering message %s: %s", message["MessageId"], exc)
                entries.append(
                    {
                        "Id": str(index),
                        "MessageBody": message["Body"],
                        "MessageAttributes": {
                            DLQ_REASON_ATTRIBUTE: {"DataType": "String", "StringValue": exc.reason},
                            DLQ_DETAIL_ATTRIBUTE: {
                                "DataType": "String",
                                "StringValue": (exc.detail or exc.reason)[:1000],
                            },
                            "source_message_id": {"DataType": "String", "StringValue": message["MessageId"]},
                        },
                    }
                )
            try:
                response = self.sqs.send_message_batch(QueueUrl=self.dlq_url, Entries=entries)
            except SQS_ERRORS as exc:
                log.warning("DLQ unreachable, leaving %d poison messages: %s", len(chunk), exc)
                continue
            for entry in response.get("Successful", []):
                fate = chunk[int(entry["Id"])]
                accepted.append(fate.message)
                self.stats.dead_letter(fate.error.reason)
        return accepted

    def _delete(self, messages: Sequence[dict[str, Any]]) -> int:
        """Delete in chunks of ten, retrying the entries SQS failed on its side (not sender faults)."""
        deleted = 0
        for chunk in _chunks(list(messages), SQS_BATCH_LIMIT):
            pending = {str(i): m["ReceiptHandle"] for i, m in enumerate(chunk)}
            for _attempt in range(self.delete_attempts):
                try:
                    response = self.sqs.delete_message_batch(
                        QueueUrl=self.queue_url,
                        Entries=[{"Id": i, "ReceiptHandle": h} for i, h in pending.items()],
                    )
                except SQS_ERRORS as exc:
                    log.warning("delete of %d messages failed: %s", len(pending), exc)
                    continue
                for entry in response.get("Successful", []):
                    pending.pop(entry["Id"], None)
                    deleted += 1
                for entry in response.get("Failed", []):
                    if entry.get("SenderFault"):
                        # A stale or invalid receipt handle: retrying cannot help.
                        log.warning("delete refused for %s: %s", entry["Id"], entry.get("Code"))
                        pending.pop(entry["Id"], None)
                        self.stats.add(delete_failures=1)
                if not pending:
                    break
            if pending:
                self.stats.add(delete_failures=len(pending))
                log.warning("%d messages not deleted; they will be redelivered", len(pending))
        self.stats.add(deleted=deleted)
        return deleted

    # -- the loops ---------------------------------------------------------
    def poll_once(self) -> BatchOutcome:
        messages = self.receive()
        return self.process_batch(messages) if messages else BatchOutcome()

    def run_loop(self, stop: threading.Event) -> None:
        """Receive and process batches until `stop` is set; the batch in hand is always finished."""
        failures = 0
        while not stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except TransientError as exc:
                failures += 1
                delay = self.backoff(failures)
                log.warning("transient failure #%d, backing off %.2fs: %s", failures, delay, exc)
                stop.wait(delay)

    def backoff(self, failures: int) -> float:
        """The loop's wait after `failures` transient failures in a row (events.backoff)."""
        return Backoff(base=0.25, cap=self.max_backoff_seconds).delay(failures)

    def run(self, stop: threading.Event, threads: int = 1) -> None:
        """Run `threads` receive loops until `stop` is set; re-raise the first unexpected error."""
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                self.run_loop(stop)
            except BaseException as exc:  # a bug: stop every loop, let SQS redeliver
                log.exception("bridge loop crashed")
                errors.append(exc)
                stop.set()

        workers = [threading.Thread(target=loop, name=f"bridge-{i}", daemon=True) for i in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        if errors:
            raise errors[0]


def parse_body(body: str) -> Any:
    """Parse an SQS body as JSON, refusing oversize and malformed bodies as poison."""
    if len(body) > MAX_ENVELOPE_BYTES + 8 * 1024:
        raise InvalidMessage(REASON_TOO_LARGE, f"{len(body)} bytes")
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InvalidMessage(REASON_BAD_JSON, str(exc)) from exc


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
