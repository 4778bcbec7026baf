"""The bridge's receive loops and how they stop.

Each loop long-polls SQS with a client of its own and hands each non-empty batch to a
`BatchHandler`. A stop (SIGTERM) never waits for a loop that is only long-polling: the
messages such a poll returns later are handed straight back to SQS (or come back after the
visibility timeout). It waits, up to `stop_grace_seconds`, only for batches in hand, which
are finished: published, then deleted. A batch still unfinished at the deadline is abandoned
undeleted: SQS redelivers it and the deterministic task ids make the second publish harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from events.backoff import Backoff
from events.bridge.batch import BatchHandler
from events.bridge.celery_publisher import TaskPublisher
from events.bridge.fates import BatchOutcome
from events.bridge.handoff import HandOffLog
from events.bridge.heartbeat import VisibilityHeartbeat
from events.bridge.in_hand import InHand
from events.bridge.intake import Intake
from events.bridge.poison_limit import BridgeBroken, PoisonLimit
from events.bridge.received import SqsMessage
from events.bridge.routing import RoutingTable
from events.bridge.sqs_batch import SQS_BATCH_LIMIT, SqsQueue
from events.bridge.stats import BridgeStats
from events.errors import TransientError

log = logging.getLogger(__name__)


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
        raw_delivery: bool = False,
        wait_seconds: int = 5,
        max_messages: int = SQS_BATCH_LIMIT,
        stats: BridgeStats | None = None,
        poison_limit: PoisonLimit | None = None,
        max_backoff_seconds: float = 30.0,
        visibility_timeout: int = 30,
        heartbeat_seconds: float | None = None,
        delete_attempts: int = 3,
        stop_grace_seconds: float = 2.0,
        new_sqs_client: Callable[[], Any] | None = None,
        handoff_log: HandOffLog | None = None,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.publisher = publisher
        self.routes = routes
        self.intake = Intake(allowed_topic_arns=allowed_topic_arns, raw_delivery=raw_delivery)
        self.wait_seconds = wait_seconds
        self.max_messages = max(1, min(max_messages, SQS_BATCH_LIMIT))
        self.stats = stats or BridgeStats()
        self.poison_limit = poison_limit or PoisonLimit()
        self.max_backoff_seconds = max_backoff_seconds
        #: What the heartbeat extends a slow batch's visibility to, each time.
        self.visibility_timeout = visibility_timeout
        #: Extend after this long in a batch (and again each interval); a third of the timeout by default.
        self.heartbeat_seconds = visibility_timeout / 3 if heartbeat_seconds is None else heartbeat_seconds
        self.delete_attempts = delete_attempts
        self.stop_grace_seconds = stop_grace_seconds
        #: Each loop gets a client of its own from this, when given (else all share `sqs`).
        self.new_sqs_client = new_sqs_client
        #: Where the events handed to the broker are recorded before SQS forgets them (optional).
        self.handoff_log = handoff_log
        self.in_hand = InHand()
        self.heartbeat = VisibilityHeartbeat(
            interval=self.heartbeat_seconds,
            extend_to=visibility_timeout,
            on_extended=lambda _n: self.stats.add(visibility_extensions=1),
        )
        self._handler = self.handler(sqs)

    def handler(self, sqs: Any) -> BatchHandler:
        """A batch handler on this SQS client."""
        return BatchHandler(
            queue=SqsQueue(sqs, self.queue_url, delete_attempts=self.delete_attempts),
            dlq_url=self.dlq_url,
            publisher=self.publisher,
            intake=self.intake,
            routes=self.routes,
            stats=self.stats,
            poison_limit=self.poison_limit,
            heartbeat=self.heartbeat,
            visibility_timeout=self.visibility_timeout,
            handoff_log=self.handoff_log,
        )

    # -- one batch ---------------------------------------------------------
    def receive(self, handler: BatchHandler | None = None) -> list[SqsMessage]:
        """One long poll; raises `TransientError` when SQS cannot be reached."""
        queue = (handler or self._handler).queue
        return queue.receive(max_messages=self.max_messages, wait_seconds=self.wait_seconds)

    def process_batch(self, messages: Sequence[Any]) -> BatchOutcome:
        """Handle one batch of messages as SQS returned them (each field is checked on the way in)."""
        return self._handler.handle([SqsMessage.from_sqs(m) for m in messages])

    def poll_once(self) -> BatchOutcome:
        messages = self.receive()
        return self._handler.handle(messages) if messages else BatchOutcome()

    # -- the loops ---------------------------------------------------------
    def run_loop(
        self,
        stop: threading.Event,
        handler: BatchHandler | None = None,
        on_turn: Callable[[], None] | None = None,
    ) -> None:
        """Receive and handle batches until `stop` is set; a batch taken in hand is always finished.
        `on_turn` is called once per turn of the loop (the liveness file)."""
        handler = handler or self._handler
        failures = 0
        while not stop.is_set():
            if on_turn is not None:
                on_turn()
            try:
                messages = self.receive(handler)
                if messages and not self.in_hand.take(stop):
                    handler.release(messages)  # the stop came during the long poll
                    return
                if messages:
                    try:
                        handler.handle(messages)
                    finally:
                        self.in_hand.done()
                failures = 0
            except TransientError as exc:
                failures += 1
                delay = self.backoff(failures)
                log.warning("transient failure #%d, backing off %.2fs: %s", failures, delay, exc)
                stop.wait(delay)

    def backoff(self, failures: int) -> float:
        """The loop's wait after `failures` transient failures in a row (events.backoff)."""
        return Backoff(base=0.25, cap=self.max_backoff_seconds).delay(failures)

    def run(self, stop: threading.Event, threads: int = 1, on_turn: Callable[[], None] | None = None) -> None:
        """Run `threads` receive loops until `stop` is set, then wait for the batches in hand (not for
        the long polls). Re-raises the first error that stopped a loop (`BridgeBroken`, or a bug).
        `on_turn` is called by every loop at each turn: any loop turning keeps the process alive."""
        errors: list[BaseException] = []

        def loop() -> None:
            try:
                handler = self.handler(self.new_sqs_client()) if self.new_sqs_client else self._handler
                self.run_loop(stop, handler, on_turn)
            except BridgeBroken as exc:
                log.error("%s", exc)
                errors.append(exc)
                stop.set()
            except BaseException as exc:  # a bug: stop every loop, let SQS redeliver
                log.exception("bridge loop crashed")
                errors.append(exc)
                stop.set()

        # Daemon threads: a loop still in a long poll when the process ends holds nothing.
        for i in range(threads):
            threading.Thread(target=loop, name=f"bridge-{i}", daemon=True).start()
        while not stop.wait(0.5):
            pass
        unfinished = self.in_hand.wait_empty(self.stop_grace_seconds)
        if unfinished:
            log.warning(
                "%d batches still in hand after %.1fs; left undeleted, SQS redelivers them",
                unfinished,
                self.stop_grace_seconds,
            )
        if errors:
            raise errors[0]
