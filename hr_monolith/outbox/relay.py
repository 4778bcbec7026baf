"""The outbox relay: publish pending rows to SNS in order and mark them sent.

Rows are claimed in id order; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
several relays can share one backlog without publishing a row twice.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from botocore.exceptions import BotoCoreError, ClientError
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from events.envelope import Envelope
from events.publisher import SNS_BATCH_LIMIT, PublishResult, SnsPublisher
from hr_monolith.outbox.models import OutboxEvent

log = logging.getLogger(__name__)


@dataclass
class RelayPass:
    claimed: int = 0
    published: int = 0
    failed: int = 0


class OutboxRelay:
    def __init__(
        self,
        publisher: SnsPublisher,
        *,
        batch_size: int = 100,
        max_in_flight: int = 4,
        max_backoff_seconds: float = 30.0,
    ) -> None:
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.max_backoff_seconds = max_backoff_seconds
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="relay")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def relay_once(self) -> RelayPass:
        """Claim up to `batch_size` pending rows, publish them, mark what SNS accepted."""
        pending = OutboxEvent.objects.filter(sent_at__isnull=True).order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            # Rows stay locked while they are published: another relay skips them.
            with transaction.atomic():
                return self._relay(list(pending.select_for_update(skip_locked=True)[: self.batch_size]))
        # SQLite: one relay only; publishing outside a transaction keeps writers unblocked.
        return self._relay(list(pending[: self.batch_size]))

    def _relay(self, rows: Sequence[OutboxEvent]) -> RelayPass:
        outcome = RelayPass(claimed=len(rows))
        if not rows:
            return outcome
        results = self._publish(rows)
        now = timezone.now()
        with transaction.atomic():
            OutboxEvent.objects.filter(pk__in=[r.pk for r in results.published]).update(
                sent_at=now, attempts=F("attempts") + 1, last_error=""
            )
            for row, error in results.failed.items():
                OutboxEvent.objects.filter(pk=row.pk).update(
                    attempts=F("attempts") + 1, last_error=error[:2000]
                )
        outcome.published = len(results.published)
        outcome.failed = len(results.failed)
        return outcome

    def _publish(self, rows: Sequence[OutboxEvent]) -> _Results:
        chunks = [rows[i : i + SNS_BATCH_LIMIT] for i in range(0, len(rows), SNS_BATCH_LIMIT)]
        results = _Results()
        futures = [self._pool.submit(self._publish_chunk, chunk) for chunk in chunks]
        for chunk, future in zip(chunks, futures, strict=True):
            try:
                result: PublishResult = future.result()
            except (BotoCoreError, ClientError) as exc:
                results.failed.update({row: f"{type(exc).__name__}: {exc}" for row in chunk})
                continue
            by_id = {str(row.event_id): row for row in chunk}
            results.published.extend(by_id[event_id] for event_id in result.published)
            results.failed.update({by_id[i]: err for i, err in result.failed.items()})
        return results

    def _publish_chunk(self, chunk: Sequence[OutboxEvent]) -> PublishResult:
        envelopes = [Envelope(**row.envelope) for row in chunk]
        return self.publisher.publish_batch(envelopes)

    def run(self, stop: threading.Event, poll_interval: float = 0.2) -> None:
        """Relay until `stop` is set; back off with jitter while SNS refuses."""
        failures = 0
        while not stop.is_set():
            outcome = self.relay_once()
            if outcome.failed:
                failures += 1
                delay = random.uniform(0, min(self.max_backoff_seconds, 0.5 * 2 ** min(failures, 10)))
                log.warning("SNS refused %d events; retrying in %.1fs", outcome.failed, delay)
                stop.wait(delay)
            else:
                failures = 0
                if outcome.claimed < self.batch_size:
                    stop.wait(poll_interval)


@dataclass
class _Results:
    published: list[OutboxEvent] = field(default_factory=list)
    failed: dict[OutboxEvent, str] = field(default_factory=dict)
