"""Writing to the outbox. Call `outbox_write` inside the transaction of the change."""

from __future__ import annotations

import datetime
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from events.envelope import Envelope
from hr_monolith.outbox.models import OutboxEvent


def producer_name() -> str:
    return settings.EVENTS_PRODUCER


def outbox_write(envelope: Envelope) -> OutboxEvent:
    """Validate `envelope` against the contract and insert its outbox row.

    Must run inside the caller's transaction: the row commits (or not) with the change.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_write must run inside the transaction of the change")
    envelope.validate()
    return OutboxEvent.objects.create(**_row_fields(envelope))


def outbox_write_many(envelopes: Iterable[Envelope]) -> int:
    """Validate and insert many rows in one statement (backfills); same transaction rule."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox_write_many must run inside the transaction of the change")
    rows = [OutboxEvent(**_row_fields(envelope.validate())) for envelope in envelopes]
    OutboxEvent.objects.bulk_create(rows)
    return len(rows)


def _row_fields(envelope: Envelope) -> dict:
    return {
        "event_id": envelope.event_id,
        "event_type": envelope.event_type,
        "aggregate_type": envelope.aggregate_type,
        "aggregate_id": envelope.aggregate_id,
        "aggregate_version": envelope.aggregate_version,
        "envelope": envelope.to_dict(),
    }


def outbox_resend(*, ids: Iterable[int]) -> int:
    """Mark chosen rows pending again; the relay publishes them once more (same event_id)."""
    return OutboxEvent.objects.filter(pk__in=list(ids)).update(sent_at=None)


def outbox_purge(*, older_than: datetime.timedelta, batch_size: int = 1000) -> Iterable[int]:
    """Delete sent rows sent before now - `older_than`, a batch per transaction.

    Yields the number deleted per batch (for a progress bar). Pending rows are never touched.
    """
    cutoff = timezone.now() - older_than
    while True:
        with transaction.atomic():
            pks = list(
                OutboxEvent.objects.filter(sent_at__isnull=False, sent_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:batch_size]
            )
            if not pks:
                return
            OutboxEvent.objects.filter(pk__in=pks).delete()
        yield len(pks)
