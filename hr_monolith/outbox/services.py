"""Writing to the outbox. Call `outbox_write` inside the transaction of the change."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

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
    return OutboxEvent.objects.create(
        event_id=envelope.event_id,
        event_type=envelope.event_type,
        aggregate_type=envelope.aggregate_type,
        aggregate_id=envelope.aggregate_id,
        aggregate_version=envelope.aggregate_version,
        envelope=envelope.to_dict(),
    )
