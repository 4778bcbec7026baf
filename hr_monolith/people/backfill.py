"""Backfill: a snapshot event of every user (or a filtered set) into the outbox, so that a
new consumer can be brought up to date. Progress commits with each batch, so a run resumes.

It lives with the people it snapshots: the outbox app knows nothing of users (it only records
each run, `OutboxBackfill`), so the apps import each other in one direction only."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from hr_monolith.outbox.models import OutboxBackfill
from hr_monolith.outbox.services import outbox_write_many
from hr_monolith.people import events
from hr_monolith.people.models import User


def backfill_start(
    *, departments: list[str] | None = None, active: bool | None = None, ids: list[str] | None = None
) -> OutboxBackfill:
    """Record a new run with its filter; nothing is written to the outbox yet."""
    filters: dict[str, Any] = {}
    if departments:
        filters["departments"] = sorted(departments)
    if active is not None:
        filters["active"] = active
    if ids:
        filters["ids"] = sorted(str(uuid.UUID(i)) for i in ids)
    return OutboxBackfill.objects.create(filters=filters, trace_id=uuid.uuid4().hex)


def backfill_unfinished() -> OutboxBackfill | None:
    return OutboxBackfill.objects.filter(finished_at__isnull=True).order_by("-id").first()


def _users(run: OutboxBackfill) -> QuerySet[User]:
    query = Q()
    if "departments" in run.filters:
        query &= Q(department__code__in=run.filters["departments"])
    if "active" in run.filters:
        query &= Q(is_active=run.filters["active"])
    if "ids" in run.filters:
        query &= Q(pk__in=run.filters["ids"])
    users = User.objects.filter(query)
    if run.last_user_id:
        users = users.filter(pk__gt=run.last_user_id)
    return users.order_by("pk")


def backfill_remaining(run: OutboxBackfill) -> int:
    return _users(run).count()


def backfill_batch(run: OutboxBackfill, *, batch_size: int) -> int:
    """Write the next `batch_size` snapshots and the run's progress in one transaction.

    Returns how many were written (0 when the run is finished). An interruption rolls the
    batch back with its progress, so a resumed run neither skips nor repeats a user.
    """
    with transaction.atomic():
        run = OutboxBackfill.objects.select_for_update().get(pk=run.pk)
        if run.finished_at is not None:
            return 0
        # The lock makes each snapshot's version the committed one; `of` keeps PostgreSQL
        # from refusing FOR UPDATE on the nullable side of the catalogue joins.
        users = list(
            _users(run)
            .select_for_update(of=("self",))
            .select_related("department", "position", "location")[:batch_size]
        )
        if not users:
            run.finished_at = timezone.now()
            run.save(update_fields=["finished_at", "updated_at"])
            return 0
        # user.updated carries the full snapshot; a consumer applies it only if the version is new.
        written = outbox_write_many(
            dataclasses.replace(events.user_updated_event(user), trace_id=run.trace_id) for user in users
        )
        run.last_user_id = str(users[-1].pk)
        run.emitted += written
        run.save(update_fields=["last_user_id", "emitted", "updated_at"])
        return written
