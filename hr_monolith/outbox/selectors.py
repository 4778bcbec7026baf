"""Reads of the outbox: the backlog the relay has yet to publish."""

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

    @property
    def oldest_age_seconds(self) -> float | None:
        if self.oldest_created_at is None:
            return None
        return (timezone.now() - self.oldest_created_at).total_seconds()


def outbox_backlog() -> Backlog:
    """How many rows wait to be published, and since when."""
    stats = OutboxEvent.objects.filter(sent_at__isnull=True).aggregate(
        pending=Count("id"), oldest=Min("created_at")
    )
    return Backlog(pending=stats["pending"], oldest_created_at=stats["oldest"])
