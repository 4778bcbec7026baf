"""The SQS bridge: drain the queue and fan each event out as Celery tasks.

For each received batch: unwrap (SNS-wrapped or raw), check the topic against
the allow-list, validate the envelope, look its type up in the routing table,
publish every task of the batch to the broker in one go, and only then delete
the messages. The fate of a message follows from the exception type:

* `InvalidMessage`  -> copied to the DLQ with the reason, deleted from the queue;
* `TransientError`  -> left alone: SQS redelivers it after the visibility timeout;
* success           -> deleted.

Anything else is a bug: the loop stops and SQS redelivers.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from events.envelope import MAX_ENVELOPE_BYTES, REASON_BAD_JSON, REASON_TOO_LARGE, Envelope
from events.errors import InvalidMessage, TransientError

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
    dead_lettered: Counter = field(default_factory=Counter)
    last_batch_seconds: float = 0.0
    oldest_message_age_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **amounts: float) -> None:
        with self._lock:
            for name, amount in amounts.items():
                setattr(self, name, getattr(self, name) + amount)

    def dead_letter(self, reason: str) -> None:
        with self._lock:
            self.dead_lettered[reason] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "published_tasks": self.published_tasks,
                "deleted": self.deleted,
                "redelivered": self.redelivered,
                "ignored": self.ignored,
                "transient_failures": self.transient_failures,
                "dead_lettered": dict(self.dead_lettered),
                "last_batch_seconds": round(self.last_batch_seconds, 4),
                "oldest_message_age_seconds": round(self.oldest_message_age_seconds, 3),
            }


@dataclass
class BatchOutcome:
    received: int = 0
    deleted: int = 0
    dead_lettered: int = 0
    left_for_redelivery: int = 0


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

    # -- one batch ---------------------------------------------------------
    def receive(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.max_messages,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
        )
        return response.get("Messages", [])

    def process_batch(self, messages: Sequence[dict[str, Any]]) -> BatchOutcome:
        started = time.monotonic()
        outcome = BatchOutcome(received=len(messages))
        self._count_received(messages)
        ready: list[tuple[dict[str, Any], list[TaskMessage]]] = []
        poison: list[tuple[dict[str, Any], InvalidMessage]] = []
        for message in messages:
            try:
                envelope = self.decode(message["Body"])
                ready.append((message, self.plan(envelope)))
            except InvalidMessage as exc:
                poison.append((message, exc))

        done: list[dict[str, Any]] = []
        failure: TransientError | None = None
        if ready:
            try:
                self._publish(ready)
                done.extend(message for message, _planned in ready)
            except TransientError as exc:
                log.warning("broker refused the batch, leaving %d messages: %s", len(ready), exc)
                self.stats.add(transient_failures=1)
                outcome.left_for_redelivery = len(ready)
                failure = exc
        if poison:
            outcome.dead_lettered = self._dead_letter(poison)
            done.extend(message for message, _exc in poison)
        outcome.deleted = self._delete(done)
        self.stats.last_batch_seconds = time.monotonic() - started
        if failure is not None:
            raise failure
        return outcome

    def _publish(self, ready: Sequence[tuple[dict[str, Any], list[TaskMessage]]]) -> None:
        tasks = [task for _message, planned in ready for task in planned]
        if tasks:
            self.publisher.publish(tasks)
        self.stats.add(published_tasks=len(tasks), ignored=sum(1 for _m, planned in ready if not planned))

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

    def _dead_letter(self, poison: Sequence[tuple[dict[str, Any], InvalidMessage]]) -> int:
        """Copy poison messages to the DLQ with their reason. A network error raises TransientError."""
        entries = []
        for index, (message, exc) in enumerate(poison):
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
        sent = 0
        for chunk in _chunks(entries, SQS_BATCH_LIMIT):
            response = self.sqs.send_message_batch(QueueUrl=self.dlq_url, Entries=chunk)
            if response.get("Failed"):
                raise TransientError(f"DLQ refused {len(response['Failed'])} messages")
            sent += len(chunk)
        for _message, exc in poison:
            self.stats.dead_letter(exc.reason)
        return sent

    def _delete(self, messages: Sequence[dict[str, Any]], attempts: int = 3) -> int:
        """Delete in chunks of ten, retrying only the entries that failed."""
        deleted = 0
        for chunk in _chunks(list(messages), SQS_BATCH_LIMIT):
            pending = {str(i): m["ReceiptHandle"] for i, m in enumerate(chunk)}
            for _attempt in range(attempts):
                response = self.sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": i, "ReceiptHandle": h} for i, h in pending.items()],
                )
                for entry in response.get("Successful", []):
                    pending.pop(entry["Id"], None)
                    deleted += 1
                if not pending:
                    break
            if pending:
                log.warning("%d messages not deleted; they will be redelivered", len(pending))
        self.stats.add(deleted=deleted)
        return deleted

    # -- the loops ---------------------------------------------------------
    def poll_once(self) -> BatchOutcome:
        messages = self.receive()
        return self.process_batch(messages) if messages else BatchOutcome()

    def run_loop(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                self.poll_once()
                failures = 0
            except TransientError:
                failures += 1
                stop.wait(self.backoff(failures))

    def backoff(self, failures: int) -> float:
        """Full-jitter exponential backoff, capped."""
        return random.uniform(0, min(self.max_backoff_seconds, 0.5 * 2 ** min(failures, 10)))

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
