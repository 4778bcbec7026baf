"""Reads of the outbox: the backlog the relay has yet to publish, and the rows it parked."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import Count, Min
from django.utils import timezone

from hr_monolith.outbox.models import OutboxEvent


@dataclass(frozen=True)
class Backlog:
    pending: int
    oldest_created_at: datetime.datetime | None
    #: Rows parked after RELAY_MAX_ATTEMPTS refusals: they wait for a re-send from admin.
    failed: int = 0

    @property
    def oldest_age_seconds(self) -> float | None:
        if self.oldest_created_at is None:
            return None
        return (timezone.now() - self.oldest_created_at).total_seconds()


def outbox_backlog() -> Backlog:
    """How many rows wait to be published and since when; how many are parked as failed."""
    stats = OutboxEvent.objects.pending().aggregate(pending=Count("id"), oldest=Min("created_at"))
    failed = OutboxEvent.objects.failed().count()
    return Backlog(pending=stats["pending"], oldest_created_at=stats["oldest"], failed=failed)


def outbox_event_get(*, event_id: str) -> OutboxEvent | None:
    """One event's outbox row by its event id (the users service's trace of an event asks for it)."""
    return OutboxEvent.objects.filter(event_id=event_id).first()
