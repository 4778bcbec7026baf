"""Writing to the outbox (call `outbox_write` inside the transaction of the change), re-sending,
forgetting an erased person, and purging sent rows."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events import tracecontext
from events.envelope import Envelope
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.wake import announce_outbox_write

log = logging.getLogger(__name__)


def producer_name() -> str:
    return settings.EVENTS_PRODUCER


def outbox_write(envelope: Envelope) -> OutboxEvent:
    """Validate `envelope` against the contract and insert its outbox row.

    Must run inside the caller's transaction: the row commits (or not) with the change.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_write must run inside the transaction of the change")
    envelope.validate()
    row = OutboxEvent.objects.create(**_row_fields(envelope))
    log.info(
        "outbox: %s written",
        envelope.event_type,
        extra={"event_id": envelope.event_id, "trace_id": envelope.trace_id, **_user_id(envelope)},
    )
    announce_outbox_write()
    return row


def _user_id(envelope: Envelope) -> dict[str, str]:
    return {"user_id": envelope.aggregate_id} if envelope.aggregate_type == "user" else {}


def outbox_write_many(envelopes: Iterable[Envelope]) -> int:
    """Validate and insert many rows in one statement (backfills); same transaction rule."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_write_many must run inside the transaction of the change")
    rows = [OutboxEvent(**_row_fields(envelope.validate())) for envelope in envelopes]
    OutboxEvent.objects.bulk_create(rows)
    if rows:
        announce_outbox_write()
    return len(rows)


def _row_fields(envelope: Envelope) -> dict:
    return {
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "aggregate_version": envelope.aggregate_version,
        "envelope": envelope.to_dict(),
        "traceparent": _traceparent(envelope),
    }


def _traceparent(envelope: Envelope) -> str:
    """The current span (the request's) when the envelope is of the current trace; else a new span
    in the envelope's trace (a backfill, a command), or nothing if its trace_id is no W3C trace-id."""
    current = tracecontext.current()
    if current is not None and current.trace_id == envelope.trace_id:
        return str(current)
    parent = tracecontext.TraceParent.in_trace(envelope.trace_id)
    return str(parent) if parent is not None else ""


def outbox_resend(*, ids: Iterable[int]) -> int:
    """Mark chosen rows pending again (sent or failed ones); the relay publishes them once more,
    with the same event_id. A redacted row (its person was erased) is never published again: its
    payload no longer matches its event type, and the erase event supersedes it."""
    return (
        OutboxEvent.objects.filter(pk__in=list(ids), redacted_at__isnull=True)
        .exclude(sent_at__isnull=True, failed_at__isnull=True)
        .update(sent_at=None, failed_at=None, refusals=0, next_attempt_at=None)
    )


@dataclass(frozen=True)
class Forgotten:
    """What `outbox_forget_aggregate` did: unpublished rows dropped, sent rows redacted."""

    dropped: int
    redacted: int


def outbox_forget_aggregate(*, aggregate_type: str, aggregate_id: str, payload: dict[str, Any]) -> Forgotten:
    """Remove the personal data of one aggregate (a person being erased) from every row written so far.

    Call it in the erase's transaction, before writing the erase event. Rows not yet published
    (pending or failed) are deleted: the erase event, newer than all of them, supersedes them, and
    a consumer that never saw them ends in the same erased state. Sent rows keep their envelope
    with `payload` (what the erase event carries) in place of theirs, and are marked redacted.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_forget_aggregate must run inside the transaction of the erase")
    # The lock waits for a relay that holds one of these rows in a pass: it is then marked, as sent
    # (and redacted here) or not (and dropped here), never published after this transaction.
    rows = list(
        OutboxEvent.objects.select_for_update()
        .filter(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
        .order_by("id")
    )
    unpublished = [row.pk for row in rows if row.sent_at is None]
    OutboxEvent.objects.filter(pk__in=unpublished).delete()
    now = timezone.now()
    sent = [row for row in rows if row.sent_at is not None]
    for row in sent:
        row.envelope = {**row.envelope, "payload": payload}
        row.redacted_at = now
    OutboxEvent.objects.bulk_update(sent, ["envelope", "redacted_at"])
    return Forgotten(dropped=len(unpublished), redacted=len(sent))


def outbox_purge(*, older_than: datetime.timedelta, batch_size: int = 1000) -> Iterator[int]:
    """Delete sent rows sent before now - `older_than`, a batch per transaction.

    Yields the number deleted per batch (for a progress bar). Pending and failed rows are never touched.
    """
    cutoff = timezone.now() - older_than
    while True:
        with transaction.atomic():
            pks = list(
                OutboxEvent.objects.sent()
                .filter(sent_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not pks:
                return
            OutboxEvent.objects.filter(pk__in=pks).delete()
        yield len(pks)


class PurgeSchedule:
    """`outbox_purge` every `interval_seconds`, one batch per `step()`: the relay calls `step` after
    each pass, so purging a large backlog of sent rows never holds publishing up for long."""

    def __init__(
        self,
        *,
        retention: datetime.timedelta,
        interval_seconds: float,
        batch_size: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retention = retention
        self.interval_seconds = interval_seconds
        self.batch_size = batch_size
        self._clock = clock
        self._due_at = clock()  # the first run purges at once
        self._batches: Iterator[int] | None = None
        #: Rows deleted since the start (for logs and tests).
        self.deleted = 0

    def step(self) -> int:
        """Delete one batch if a purge is due or under way; returns how many rows it deleted."""
        if self._batches is None:
            if self._clock() < self._due_at:
                return 0
            self._batches = outbox_purge(older_than=self.retention, batch_size=self.batch_size)
        deleted = next(self._batches, None)
        if deleted is None:
            self._batches = None
            self._due_at = self._clock() + self.interval_seconds
            return 0
        self.deleted += deleted
        log.info("outbox purge: deleted %d sent rows older than the retention", deleted)
        return deleted
