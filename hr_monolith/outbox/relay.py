"""The outbox relay: publish pending rows to SNS in id order and mark them sent.

Rows are claimed in id order; on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
several relays can share one backlog without publishing a row twice. A row is
marked sent only when SNS listed it as `Successful`. An entry SNS refuses is
retried on its own: twice within the pass, then after a backoff of its own (it
holds up no other row), and after `max_attempts` refusals it is parked as
failed (admin shows and re-sends it). A refusal of the whole call (SNS
unreachable, throttled) leaves the rows pending and parks nothing: the run loop
backs off and resumes when SNS answers again.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F
from django.utils import timezone

from events.aws import AWS_CALL_ERRORS
from events.backoff import Backoff
from events.envelope import Envelope
from events.publisher import PublishResult, SnsPublisher, batch_slices, entry_size
from hr_monolith.outbox import metrics
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay_statements import PendingClaim, mark_sent
from hr_monolith.outbox.services import PurgeSchedule
from hr_monolith.outbox.wake import OutboxWake, PollWake

log = logging.getLogger(__name__)
#: What a pass may raise while the database is away for a while; the loop waits them out.
DATABASE_ERRORS = (OperationalError, InterfaceError)

#: Errors of a whole publish_batch call that may go away (network, throttling, SNS down).
CALL_ERRORS = AWS_CALL_ERRORS
LAST_ERROR_MAX = 2000


@dataclass
class RelayPass:
    """What one claim-publish-mark pass did. `failed` rows were not published: `parked` of them are
    now failed for good, the rest stay pending. `call_failed`: a whole call failed (SNS in trouble)."""

    claimed: int = 0
    published: int = 0
    failed: int = 0
    parked: int = 0
    call_failed: bool = False


@dataclass
class _Attempts:
    """Per row of a pass: publish attempts, refusals of the entry by SNS, and the last error seen."""

    published: set[int] = field(default_factory=set)
    attempts: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    refusals: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[int, str] = field(default_factory=dict)
    call_failed: bool = False


def _trace_fields(row: OutboxEvent) -> dict[str, str]:
    fields = {"trace_id": str(row.envelope.get("trace_id", ""))}
    if row.aggregate_type == "user":
        fields["user_id"] = row.aggregate_id
    return fields


class OutboxRelay:
    def __init__(
        self,
        publisher: SnsPublisher,
        *,
        batch_size: int = 100,
        max_in_flight: int = 4,
        max_backoff_seconds: float = 30.0,
        entry_retries: int = 2,
        max_attempts: int = 10,
        backoff: Backoff | None = None,
        purge: PurgeSchedule | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], datetime.datetime] = timezone.now,
    ) -> None:
        self.publisher = publisher
        self.batch_size = batch_size
        self.max_in_flight = max_in_flight
        self.entry_retries = entry_retries
        self.max_attempts = max_attempts
        #: The run loop's delay after a failed call, and a refused row's delay before its next pass.
        self.backoff = backoff or Backoff(base=0.5, cap=max_backoff_seconds)
        self._entry_backoff = Backoff(base=0.05, cap=1.0)
        self.purge = purge
        self._sleep = sleep
        self._clock = clock
        #: Delays the run loop waited after failed passes (for logs and tests).
        self.backoff_delays: list[float] = []
        self._pool = ThreadPoolExecutor(max_workers=max_in_flight, thread_name_prefix="relay")
        self._claim = PendingClaim(batch_size)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def relay_once(self) -> RelayPass:
        """Claim up to `batch_size` pending rows due now, publish them, mark what SNS accepted."""
        if connection.features.has_select_for_update_skip_locked:
            # Rows stay locked until they are marked: another relay skips them meanwhile.
            with transaction.atomic():
                return self._relay(self._claim.rows(self._clock(), lock=True))
        # SQLite: one relay only; publishing outside a transaction keeps writers unblocked.
        return self._relay(self._claim.rows(self._clock(), lock=False))

    def _relay(self, rows: Sequence[OutboxEvent]) -> RelayPass:
        if not rows:
            return RelayPass()
        outcome = self._publish_with_retries(rows)
        parked = self._mark(rows, outcome)
        return RelayPass(
            claimed=len(rows),
            published=len(outcome.published),
            failed=len(rows) - len(outcome.published),
            parked=parked,
            call_failed=outcome.call_failed,
        )

    def _publish_with_retries(self, rows: Sequence[OutboxEvent]) -> _Attempts:
        outcome = _Attempts()
        todo = list(rows)
        for round_ in range(self.entry_retries + 1):
            if round_:
                self._sleep(self._entry_backoff.delay(round_))
            self._publish_round(todo, outcome)
            todo = [
                row
                for row in todo
                if row.pk not in outcome.published
                and row.refusals + outcome.refusals[row.pk] < self.max_attempts
            ]
            # A refused call means SNS itself is in trouble: leave it to the run loop's backoff.
            if not todo or outcome.call_failed:
                break
        return outcome

    def _publish_round(self, rows: Sequence[OutboxEvent], outcome: _Attempts) -> None:
        """One publish_batch per 10 rows (or 256 KiB), several in flight. The rows' envelopes were
        validated when they were written (`outbox_write`): each is encoded once, here, and that text
        is both what the batch is sized on and what SNS carries. Entries are known by the envelope's
        `event_id` (the row's, as text: no UUID is formatted per row)."""
        envelopes = [Envelope(**row.envelope) for row in rows]
        messages = [envelope.to_json() for envelope in envelopes]
        slices = batch_slices([entry_size(message) for message in messages])
        traceparents = {
            envelope.event_id: row.traceparent
            for envelope, row in zip(envelopes, rows, strict=True)
            if row.traceparent
        }
        futures = [
            self._pool.submit(
                self.publisher.publish_batch, envelopes[part], traceparents, messages=messages[part]
            )
            for part in slices
        ]
        log_each = log.isEnabledFor(logging.INFO)
        for part, future in zip(slices, futures, strict=True):
            chunk = rows[part]
            for row in chunk:
                outcome.attempts[row.pk] += 1
            try:
                result: PublishResult = future.result()
            except CALL_ERRORS as exc:
                metrics.OUTBOX_SNS_ERRORS.labels(kind="call").inc()
                outcome.call_failed = True
                for row in chunk:
                    outcome.errors[row.pk] = f"{type(exc).__name__}: {exc}"
                continue
            by_event_id = {
                envelope.event_id: row for envelope, row in zip(envelopes[part], chunk, strict=True)
            }
            outcome.published.update(by_event_id[event_id].pk for event_id in result.published)
            if log_each:
                # One line per event (docs/tracing.md: found by event_id, trace_id and user_id).
                for event_id in result.published:
                    row = by_event_id[event_id]
                    log.info(
                        "outbox: %s published",
                        row.event_type,
                        extra={"event_id": event_id, **_trace_fields(row)},
                    )
            for event_id, error in result.failed.items():
                row = by_event_id[event_id]
                outcome.errors[row.pk] = error
                outcome.refusals[row.pk] += 1
                metrics.OUTBOX_SNS_ERRORS.labels(kind="entry").inc()

    def _mark(self, rows: Sequence[OutboxEvent], outcome: _Attempts) -> int:
        """Write the pass's outcome; returns how many rows were parked as failed."""
        now = self._clock()
        sent_by_attempts: dict[int, list[int]] = defaultdict(list)
        for row in rows:
            if row.pk in outcome.published:
                sent_by_attempts[outcome.attempts[row.pk]].append(row.pk)
        parked: list[OutboxEvent] = []
        with transaction.atomic():
            for attempts, pks in sent_by_attempts.items():
                mark_sent(pks, at=now, attempts=attempts)
            for row in rows:
                if row.pk in outcome.published:
                    # A row sent after a retry keeps its last error: it tells what happened.
                    if row.pk in outcome.errors:
                        OutboxEvent.objects.filter(pk=row.pk).update(
                            last_error=outcome.errors[row.pk][:LAST_ERROR_MAX]
                        )
                    continue
                error = outcome.errors.setdefault(row.pk, "SNS returned no result for this entry")
                fields = {
                    "attempts": F("attempts") + outcome.attempts[row.pk],
                    "last_error": error[:LAST_ERROR_MAX],
                }
                refused = outcome.refusals[row.pk]
                if refused:
                    total = row.refusals + refused
                    fields["refusals"] = total
                    if total >= self.max_attempts:
                        fields.update(failed_at=now, next_attempt_at=None)
                        parked.append(row)
                    else:
                        delay = self.backoff.delay(total)
                        fields["next_attempt_at"] = now + datetime.timedelta(seconds=delay)
                OutboxEvent.objects.filter(pk=row.pk).update(**fields)
        published_by_type: dict[str, int] = defaultdict(int)
        for row in rows:
            if row.pk in outcome.published:
                published_by_type[row.event_type] += 1
                metrics.PUBLISH_SECONDS.observe(max(0.0, (now - row.created_at).total_seconds()))
        for event_type, count in published_by_type.items():
            metrics.OUTBOX_PUBLISHED.labels(event_type=event_type).inc(count)
        if parked:
            metrics.OUTBOX_PARKED.inc(len(parked))
        for row in rows:
            if row.pk not in outcome.published:
                log.warning("outbox row %s not published: %s", row.pk, outcome.errors[row.pk])
        if parked:
            failed_in_all = OutboxEvent.objects.failed().count()
            for row in parked:
                log.error(
                    "outbox row %s (%s) parked as failed after %d refusals by SNS; re-send it from admin",
                    row.pk,
                    row.event_type,
                    self.max_attempts,
                )
            log.error("outbox: %d rows failed in all (admin: Outbox events, state failed)", failed_in_all)
        return len(parked)

    def run(
        self,
        stop: threading.Event,
        poll_interval: float = 0.2,
        wake: OutboxWake | None = None,
        on_pass: Callable[[], None] | None = None,
        wake_poll_interval: float | None = None,
    ) -> None:
        """Relay until `stop` is set; back off with jitter while SNS refuses whole calls; after a pass
        that found nothing wait for `wake` (a commit announced) or the poll interval, whichever comes
        first; purge sent rows when due. `on_pass` is called after every pass (the liveness file).

        The poll interval is `wake_poll_interval` (default: `poll_interval`) while `wake` is
        listening, `poll_interval` while it is not (no wake-up configured, or its connection is
        down) and while a purge is under way (one batch per pass, at the pace it always had).

        `stop` is checked between passes only, so the batch in hand is always finished and marked.
        Entries SNS refuses one by one do not slow the loop: each waits out its own backoff.
        """
        wake = wake or PollWake()
        if wake_poll_interval is None:
            wake_poll_interval = poll_interval
        failures = 0
        while not stop.is_set():
            purged = 0
            try:
                outcome = self.relay_once()
                if self.purge is not None:
                    purged = self.purge.step()
            except DATABASE_ERRORS as exc:
                # A locked SQLite file, a PostgreSQL restart or failover: the rows stay pending (the
                # claim's transaction is rolled back), so wait and claim again on a new connection.
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("outbox: database error (%s); retrying in %.2fs", type(exc).__name__, delay)
                connection.close()
                stop.wait(delay)
                continue
            if on_pass is not None:
                on_pass()
            if outcome.call_failed:
                failures += 1
                delay = self.backoff.delay(failures)
                self.backoff_delays.append(delay)
                log.warning("SNS refused %d events; retrying in %.2fs", outcome.failed, delay)
                stop.wait(delay)
            else:
                failures = 0
                # Sleep only on an empty outbox: rows committed while a pass was publishing are
                # claimed at once by the next pass (measured: the poll wait was ~5 ms of the
                # commit → sent latency at 100 events/s). A full pass never waits either.
                # An idle relay that only polls adds half its poll interval to each event's
                # latency on average; the wake-up ends the wait at the commit, and the poll is
                # only the fallback: seldom while a commit would wake the relay (an idle relay's
                # passes were most of its CPU at 0.2 s), often while it would not.
                if not outcome.claimed:
                    seldom = wake.listening and not purged
                    wake.wait(stop, wake_poll_interval if seldom else poll_interval)
