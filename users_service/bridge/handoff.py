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
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, reset_queries, transaction
from django.db.models import QuerySet
from django.utils import timezone

from events.backoff import Backoff
from events.bridge.celery_publisher import TaskPublisher
from events.bridge.handoff import HandOff as HandedOver
from events.bridge.routing import TaskMessage, task_name_of
from events.errors import TransientError
from events.tracecontext import TraceParent
from users_service.bridge.backlog import oldest_queued_at
from users_service.bridge.models import HandOff
from users_service.directory import apply_statements
from users_service.directory.models import FailedTask, InboxEntry
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
    #: Due records found applied in the inbox (now marked), records published again, records
    #: whose tasks may still wait in their queue (looked at again after the grace), records
    #: parked this sweep (HANDOFF_MAX_ATTEMPTS spent), pruned records.
    applied: int = 0
    republished: int = 0
    still_queued: int = 0
    parked: int = 0
    pruned: int = 0
    #: Rounds of at most HANDOFF_SWEEP_BATCH records this sweep took.
    rounds: int = 0

    def add(self, other: SweepOutcome) -> None:
        for count in fields(self):
            setattr(self, count.name, getattr(self, count.name) + getattr(other, count.name))


def republish_backoff(attempts: int) -> float:
    """Seconds until the next look at a record published again `attempts` times: at least the
    grace (the tasks need that long to come through), doubling up to HANDOFF_BACKOFF_CAP_SECONDS."""
    grace = float(settings.HANDOFF_GRACE_SECONDS)
    cap = max(grace, float(settings.HANDOFF_BACKOFF_CAP_SECONDS))
    return Backoff(base=2 * grace, cap=cap).delay(attempts)


def handoff_sweep(*, publisher: TaskPublisher, now: datetime | None = None) -> SweepOutcome:
    """Take the due records a round at a time, as long as rounds come back full (a backlog after
    the broker lost its data) and for at most HANDOFF_SWEEP_SECONDS; then prune old applied records.

    A round: mark applied the records the inbox holds, leave those whose tasks may still wait in
    their queue, park those HANDOFF_MAX_ATTEMPTS re-publishes did not bring, publish the others'
    tasks again under the same ids, all in one publish. A few statements a round whatever its
    size (due records, inbox, an update per group of rows given the same values; the failed
    tasks' errors when some are parked) and one Redis read. A publish the broker refuses raises
    `TransientError` and changes nothing in that round.
    """
    now = now or timezone.now()
    outcome = SweepOutcome()
    # The sweeper shares the process (and its GIL) with the receive loops: with the wait between
    # sweeps, catching up takes at most half of the bridge's time.
    until = time.monotonic() + settings.HANDOFF_SWEEP_SECONDS
    while True:
        taken, round_outcome = _sweep_round(publisher=publisher, now=now)
        outcome.add(round_outcome)
        if taken < settings.HANDOFF_SWEEP_BATCH or time.monotonic() >= until:
            break
    retention = timedelta(hours=settings.HANDOFF_RETENTION_HOURS)
    outcome.pruned, _ = HandOff.objects.filter(applied_at__lt=now - retention).delete()
    return outcome


def _sweep_round(*, publisher: TaskPublisher, now: datetime) -> tuple[int, SweepOutcome]:
    with transaction.atomic():
        due = list(
            HandOff.objects.select_for_update(skip_locked=True)
            .filter(next_attempt_at__lte=now, applied_at__isnull=True)
            .order_by("next_attempt_at")[: settings.HANDOFF_SWEEP_BATCH]
        )
        outcome = _settle_due(due, publisher=publisher, now=now) if due else SweepOutcome()
    outcome.rounds = 1
    metrics.HANDOFFS_REPUBLISHED.inc(outcome.republished)
    metrics.HANDOFFS_PARKED.inc(outcome.parked)
    return len(due), outcome


def _traceparent(record: HandOff) -> str | None:
    """A re-published task is a new span in its event's trace, like the first one."""
    parent = TraceParent.in_trace(record.trace_id)
    return str(parent) if parent is not None else None


def _queue_heads() -> dict[str, float | None]:
    """Per queue of the confirming tasks: when its oldest waiting task was queued."""
    return {queue: oldest_queued_at(queue) for queue in sorted({route(name).queue for name in INBOX_TASKS})}


def _may_still_be_queued(record: HandOff, heads: dict[str, float | None]) -> bool:
    """Whether a confirming task of `record` may still wait in its queue: it was last published
    after the oldest task there was queued (first in, first out: the oldest was queued before
    it). A record published before every waiting task was consumed, or lost with the broker."""
    published = (record.republished_at or record.handed_at).timestamp()
    for name in confirmed_by_inbox(record.task_ids):
        head = heads.get(route(name).queue)
        if head is not None and head <= published:
            return True
    return False


def _settle_due(due: list[HandOff], *, publisher: TaskPublisher, now: datetime) -> SweepOutcome:
    arrived: dict[tuple[str, str], datetime] = {
        (str(event_id), task_name): processed_at
        for event_id, task_name, processed_at in InboxEntry.objects.filter(
            event_id__in=[record.event_id for record in due], task_name__in=INBOX_TASKS
        ).values_list("event_id", "task_name", "processed_at")
    }
    applied, still_parked, queued, parking, missing = [], [], [], [], []
    heads: dict[str, float | None] | None = None
    for record in due:
        times = [arrived.get((str(record.event_id), name)) for name in confirmed_by_inbox(record.task_ids)]
        if all(times):  # an event with no task to wait for is applied as well
            record.applied_at = max(times, default=now)
            record.next_attempt_at = None
            record.envelope = None
            record.parked_at, record.parked_reason = None, ""
            applied.append(record)
            continue
        if record.parked_at is not None:
            # Published no more; looked at now and then in case it was applied by other means.
            record.next_attempt_at = now + timedelta(seconds=settings.HANDOFF_BACKOFF_CAP_SECONDS)
            still_parked.append(record)
            continue
        if heads is None:
            heads = _queue_heads()
        if _may_still_be_queued(record, heads):
            # Late, not lost: the worker is behind. Another look after the grace.
            record.next_attempt_at = now + timedelta(seconds=settings.HANDOFF_GRACE_SECONDS)
            queued.append(record)
        elif record.attempts >= settings.HANDOFF_MAX_ATTEMPTS:
            parking.append(record)
        else:
            missing.append(record)
    _park(parking, now=now)
    publish_again(missing, publisher=publisher)
    _write_round(applied=applied, looked=still_parked + queued, parking=parking, missing=missing, now=now)
    if missing:
        log.warning(
            "hand-off: %d events not in the inbox after their grace, published again: %s",
            len(missing),
            ", ".join(str(record.event_id) for record in missing[:20]),
        )
    return SweepOutcome(
        applied=len(applied),
        republished=len(missing),
        still_queued=len(queued),
        parked=len(parking),
    )


def _rows(records: Sequence[HandOff]) -> QuerySet[HandOff]:
    return HandOff.objects.filter(pk__in=[record.pk for record in records])


def _write_round(
    *,
    applied: list[HandOff],
    looked: list[HandOff],
    parking: list[HandOff],
    missing: list[HandOff],
    now: datetime,
) -> None:
    """Write what the round decided, a plain `UPDATE … WHERE event_id IN (…)` per group of rows
    given the same values: a `bulk_update` of every field of a 500-row round builds a `CASE` of
    500 branches per field, which made a round take seconds on a busy machine while catching up.
    Only the applied times (one per row) and the parking reasons (rare) need one."""
    if applied:
        _rows(applied).update(next_attempt_at=None, envelope=None, parked_at=None, parked_reason="")
        HandOff.objects.bulk_update(applied, ["applied_at"])
    by_next: dict[datetime, list[HandOff]] = defaultdict(list)
    for record in looked:
        by_next[record.next_attempt_at].append(record)
    for next_attempt_at, records in by_next.items():
        _rows(records).update(next_attempt_at=next_attempt_at)
    if parking:
        HandOff.objects.bulk_update(parking, ["parked_at", "parked_reason", "next_attempt_at"])
    # One backoff draw per number of attempts (rows of a round mostly share it).
    by_attempts: dict[int, list[HandOff]] = defaultdict(list)
    for record in missing:
        by_attempts[record.attempts + 1].append(record)
    republished_at = timezone.now()
    for attempts, records in by_attempts.items():
        next_attempt_at = now + timedelta(seconds=republish_backoff(attempts))
        _rows(records).update(
            attempts=attempts, republished_at=republished_at, next_attempt_at=next_attempt_at
        )


def publish_again(records: Sequence[HandOff], *, publisher: TaskPublisher) -> None:
    """Publish every task of `records` again, same ids, in one publish (`TransientError` if refused)."""
    tasks = [
        TaskMessage(task_id, name, route(name).queue, record.envelope, _traceparent(record))
        for record in records
        if record.envelope is not None
        for task_id in record.task_ids
        for name in (task_name_of(task_id),)
    ]
    if tasks:
        publisher.publish(tasks)


def _park(records: list[HandOff], *, now: datetime) -> None:
    """Stop publishing `records` again; the reason is the failed task's error when it left one."""
    if not records:
        return
    errors = dict(
        FailedTask.objects.filter(
            task_id__in=[task_id for record in records for task_id in record.task_ids]
        ).values_list("task_id", "error")
    )
    for record in records:
        known = [errors[task_id] for task_id in record.task_ids if task_id in errors]
        record.parked_at = now
        record.parked_reason = known[0] if known else f"not in the inbox after {record.attempts} re-publishes"
        record.next_attempt_at = now + timedelta(seconds=settings.HANDOFF_BACKOFF_CAP_SECONDS)
    log.error(
        "hand-off: %d events parked after %d re-publishes (admin: hand-offs, parked): %s",
        len(records),
        settings.HANDOFF_MAX_ATTEMPTS,
        ", ".join(str(record.event_id) for record in records[:20]),
    )


def resend(records: Sequence[HandOff], *, publisher: TaskPublisher) -> int:
    """Publish the tasks of parked (or pending) records again and unpark them: the sweeper counts
    HANDOFF_MAX_ATTEMPTS anew from the grace. Applied records are left alone. Returns how many."""
    chosen = [record for record in records if record.applied_at is None and record.envelope is not None]
    publish_again(chosen, publisher=publisher)
    now = timezone.now()
    _rows(chosen).update(
        parked_at=None,
        parked_reason="",
        attempts=0,
        republished_at=now,
        next_attempt_at=now + timedelta(seconds=settings.HANDOFF_GRACE_SECONDS),
    )
    return len(chosen)


def sweep_until(stop: threading.Event, *, publisher: TaskPublisher) -> None:
    """Sweep every HANDOFF_SWEEP_SECONDS until `stop` is set (the bridge's sweeper thread).

    A round that fails (database or broker down) is logged and tried again at the next tick:
    the records stay as they were, so nothing is lost by waiting. After each sweep the queries
    Django logged (DEBUG) are forgotten, as at a request's end: the thread never ends otherwise.
    """
    try:
        while not stop.wait(settings.HANDOFF_SWEEP_SECONDS):
            try:
                handoff_sweep(publisher=publisher)
            except (TransientError, DatabaseError) as exc:
                log.warning("hand-off sweep failed, trying again next round: %s", type(exc).__name__)
                metrics.HANDOFF_SWEEP_FAILURES.inc()
                close_old_connections()
            finally:
                reset_queries()
    finally:
        connection.close()
