"""The hand-off record on the users database: the bridge's `HandOffLog`, and the sweeper that
publishes again what the broker lost (docs/delivery.md).

The sweeper runs in the bridge process (`run_bridge` starts it), not as a beat task: it needs
exactly what the bridge already holds (a publisher that fails fast, the database), and it must
keep working when the broker is what failed, when a beat task would itself be lost with it.
Several bridges may sweep at once: on PostgreSQL each round locks the rows it takes
(`SKIP LOCKED`), so no record is taken by two; elsewhere a record taken twice is published twice,
which the deterministic task ids and the inbox make harmless.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from events.backoff import Backoff
from events.bridge.celery_publisher import TaskPublisher
from events.bridge.handoff import HandOff as HandedOver
from events.bridge.routing import TaskMessage, task_name_of
from events.errors import TransientError
from events.tracecontext import TraceParent
from users_service.bridge.models import HandOff
from users_service.directory import apply_statements
from users_service.directory.models import InboxEntry
from users_service.ops import metrics
from users_service.routing import INBOX_TASKS, route

log = logging.getLogger(__name__)


def confirmed_by_inbox(task_ids: Sequence[str]) -> frozenset[str]:
    """The names of the tasks among `task_ids` whose arrival the inbox records."""
    return frozenset(task_name_of(task_id) for task_id in task_ids) & INBOX_TASKS


class DatabaseHandOffLog:
    """`HandOffLog` on the users database: one `INSERT … VALUES … ON CONFLICT DO NOTHING` per batch.

    A record already there (a redelivered message) is kept as it is. An event none of whose
    tasks reports to the inbox is recorded as applied at once: there is nothing to wait for.
    """

    def record(self, handoffs: Sequence[HandedOver]) -> None:
        grace = timedelta(seconds=settings.HANDOFF_GRACE_SECONDS)
        rows = []
        for handed in handoffs:
            waits = bool(confirmed_by_inbox(handed.task_ids))
            rows.append(
                {
                    "event_id": handed.event_id,
                    "event_type": handed.event_type,
                    "aggregate_id": handed.aggregate_id,
                    "trace_id": handed.trace_id[:64],
                    "task_ids": list(handed.task_ids),
                    "received_at": handed.received_at,
                    "handed_at": handed.handed_at,
                    "attempts": 0,
                    "next_attempt_at": handed.handed_at + grace if waits else None,
                    "applied_at": None if waits else handed.handed_at,
                    "envelope": handed.envelope if waits else None,
                }
            )
        try:
            apply_statements.insert_many_unless_exist(HandOff, rows, conflict_fields=("event_id",))
        except DatabaseError as exc:
            raise TransientError(f"hand-off not recorded: {type(exc).__name__}") from exc


@dataclass
class SweepOutcome:
    #: Due records found applied in the inbox (now marked), and records published again.
    applied: int = 0
    republished: int = 0
    pruned: int = 0


def republish_backoff(attempts: int) -> float:
    """Seconds until the next look at a record published again `attempts` times: at least the
    grace (the tasks need that long to come through), doubling up to HANDOFF_BACKOFF_CAP_SECONDS."""
    grace = float(settings.HANDOFF_GRACE_SECONDS)
    cap = max(grace, float(settings.HANDOFF_BACKOFF_CAP_SECONDS))
    return Backoff(base=2 * grace, cap=cap).delay(attempts)


def handoff_sweep(*, publisher: TaskPublisher, now: datetime | None = None) -> SweepOutcome:
    """One round: take the due records, mark applied those the inbox holds, publish the others'
    tasks again under the same ids, prune old applied records.

    Four statements whatever the number of records: the due records, the inbox, one update, one
    delete. A publish the broker refuses raises `TransientError` and changes nothing.
    """
    now = now or timezone.now()
    outcome = SweepOutcome()
    with transaction.atomic():
        due = list(
            HandOff.objects.select_for_update(skip_locked=True)
            .filter(next_attempt_at__lte=now, applied_at__isnull=True)
            .order_by("next_attempt_at")[: settings.HANDOFF_SWEEP_BATCH]
        )
        if due:
            outcome.applied, outcome.republished = _settle_due(due, publisher=publisher, now=now)
    retention = timedelta(hours=settings.HANDOFF_RETENTION_HOURS)
    outcome.pruned, _ = HandOff.objects.filter(applied_at__lt=now - retention).delete()
    return outcome


def _traceparent(record: HandOff) -> str | None:
    """A re-published task is a new span in its event's trace, like the first one."""
    parent = TraceParent.in_trace(record.trace_id)
    return str(parent) if parent is not None else None


def _settle_due(due: list[HandOff], *, publisher: TaskPublisher, now: datetime) -> tuple[int, int]:
    arrived: dict[tuple[str, str], datetime] = {
        (str(event_id), task_name): processed_at
        for event_id, task_name, processed_at in InboxEntry.objects.filter(
            event_id__in=[record.event_id for record in due], task_name__in=INBOX_TASKS
        ).values_list("event_id", "task_name", "processed_at")
    }
    applied, missing = [], []
    for record in due:
        times = [arrived.get((str(record.event_id), name)) for name in confirmed_by_inbox(record.task_ids)]
        if all(times):  # an event with no task to wait for is applied as well
            record.applied_at = max(times, default=now)
            record.next_attempt_at = None
            record.envelope = None
            applied.append(record)
        else:
            missing.append(record)
    tasks = [
        TaskMessage(task_id, name, route(name).queue, record.envelope, _traceparent(record))
        for record in missing
        if record.envelope is not None
        for task_id in record.task_ids
        for name in (task_name_of(task_id),)
    ]
    if tasks:
        publisher.publish(tasks)
    for record in missing:
        record.attempts += 1
        record.next_attempt_at = now + timedelta(seconds=republish_backoff(record.attempts))
    HandOff.objects.bulk_update(applied + missing, ["applied_at", "next_attempt_at", "envelope", "attempts"])
    if missing:
        log.warning(
            "hand-off: %d events not in the inbox after their grace, published again: %s",
            len(missing),
            ", ".join(str(record.event_id) for record in missing[:20]),
        )
    return len(applied), len(missing)


def sweep_until(stop: threading.Event, *, publisher: TaskPublisher) -> None:
    """Sweep every HANDOFF_SWEEP_SECONDS until `stop` is set (the bridge's sweeper thread).

    A round that fails (database or broker down) is logged and tried again at the next tick:
    the records stay as they were, so nothing is lost by waiting.
    """
    try:
        while not stop.wait(settings.HANDOFF_SWEEP_SECONDS):
            try:
                outcome = handoff_sweep(publisher=publisher)
            except (TransientError, DatabaseError) as exc:
                log.warning("hand-off sweep failed, trying again next round: %s", type(exc).__name__)
                metrics.HANDOFF_SWEEP_FAILURES.inc()
                close_old_connections()
                continue
            if outcome.republished:
                metrics.HANDOFFS_REPUBLISHED.inc(outcome.republished)
    finally:
        connection.close()
