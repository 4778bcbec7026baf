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
from dataclasses import dataclass, replace
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


@dataclass(frozen=True)
class LoopOptions:
    """How the receive loops poll, back off, keep a slow batch invisible, delete and stop."""

    wait_seconds: int = 5
    max_messages: int = SQS_BATCH_LIMIT
    max_backoff_seconds: float = 30.0
    #: What the heartbeat extends a slow batch's visibility to, each time.
    visibility_timeout: int = 30
    #: Extend after this long in a batch (and again each interval); None: a third of the timeout.
    heartbeat_seconds: float | None = None
    delete_attempts: int = 3
    stop_grace_seconds: float = 2.0


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
        stats: BridgeStats | None = None,
        poison_limit: PoisonLimit | None = None,
        options: LoopOptions = LoopOptions(),
        new_sqs_client: Callable[[], Any] | None = None,
        handoff_log: HandOffLog | None = None,
    ) -> None:
        self.queue_url = queue_url
        self.publisher = publisher
        self.stats = stats or BridgeStats()
        self.options = options
        self.max_messages = max(1, min(options.max_messages, SQS_BATCH_LIMIT))
        #: Each loop gets a client of its own from this, when given (else all share `sqs`).
        self.new_sqs_client = new_sqs_client
        self.in_hand = InHand()
        heartbeat = VisibilityHeartbeat(
            interval=options.visibility_timeout / 3
            if options.heartbeat_seconds is None
            else options.heartbeat_seconds,
            extend_to=options.visibility_timeout,
            on_extended=lambda _n: self.stats.add(visibility_extensions=1),
        )
        self._handler = BatchHandler(
            queue=SqsQueue(sqs, queue_url, delete_attempts=options.delete_attempts),
            dlq_url=dlq_url,
            publisher=publisher,
            intake=Intake(allowed_topic_arns=allowed_topic_arns, raw_delivery=raw_delivery),
            stats=self.stats,
            routes=routes,
            poison_limit=poison_limit or PoisonLimit(),
            heartbeat=heartbeat,
            visibility_timeout=options.visibility_timeout,
            #: Where the events handed to the broker are recorded before SQS forgets them (optional).
            handoff_log=handoff_log,
        )

    def handler(self, sqs: Any) -> BatchHandler:
        """A batch handler like the bridge's own, on another SQS client."""
        return replace(
            self._handler, queue=SqsQueue(sqs, self.queue_url, delete_attempts=self.options.delete_attempts)
        )

    @property
    def intake(self) -> Intake:
        return self._handler.intake

    @property
    def dlq_url(self) -> str:
        return self._handler.dlq_url

    # -- one batch ---------------------------------------------------------
    def receive(self, handler: BatchHandler | None = None) -> list[SqsMessage]:
        """One long poll; raises `TransientError` when SQS cannot be reached."""
        queue = (handler or self._handler).queue
        return queue.receive(max_messages=self.max_messages, wait_seconds=self.options.wait_seconds)

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
        return Backoff(base=0.25, cap=self.options.max_backoff_seconds).delay(failures)

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
        unfinished = self.in_hand.wait_empty(self.options.stop_grace_seconds)
        if unfinished:
            log.warning(
                "%d batches still in hand after %.1fs; left undeleted, SQS redelivers them",
                unfinished,
                self.options.stop_grace_seconds,
            )
        if errors:
            raise errors[0]
