"""One event's timeline, hop by hop: what `manage.py users trace <event_id>` prints and the staff
page `/ops/trace/<event_id>/` shows.

Each hop is read from the record that hop leaves, never from the monolith's database:
- created, written, published: the monolith's outbox row, through its API (`/api/outbox/<id>/`,
  users_service/upstream.py); when the monolith cannot answer, the envelope's `occurred_at`;
- received, handed over: the bridge's `HandOff` record;
- task started, finished: django-celery-results' `TaskResult` of each task id (the hot path
  stores only failures; the inbox says when it applied);
- applied (or stale): the `InboxEntry` of each task.
Ids, times and outcomes only: nothing that names the person.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field

from django.utils.dateparse import parse_datetime
from django_celery_results.models import TaskResult

from events.bridge.routing import task_id_for
from users_service.bridge.models import HandOff
from users_service.directory.models import InboxEntry
from users_service.upstream import UpstreamError, monolith_get


@dataclass(frozen=True)
class Hop:
    name: str
    at: datetime.datetime
    #: Where the time comes from, and what happened there.
    detail: str
    #: Seconds since the hop before (None for the first).
    since_previous: float | None = None

    @property
    def since_ms(self) -> float | None:
        return None if self.since_previous is None else self.since_previous * 1000


@dataclass
class Timeline:
    event_id: str
    event_type: str = ""
    trace_id: str = ""
    user_id: str = ""
    hops: list[Hop] = field(default_factory=list)
    #: What could not be read (the monolith down, a record pruned), said once each.
    notes: list[str] = field(default_factory=list)

    @property
    def found(self) -> bool:
        return bool(self.hops)

    @property
    def total_seconds(self) -> float | None:
        if len(self.hops) < 2:
            return None
        return (self.hops[-1].at - self.hops[0].at).total_seconds()

    @property
    def total_ms(self) -> float | None:
        total = self.total_seconds
        return None if total is None else total * 1000


def _when(value: object) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, str):
        return parse_datetime(value)
    return None


def _monolith_hops(timeline: Timeline) -> list[tuple[str, datetime.datetime | None, str]]:
    try:
        row = monolith_get(f"/api/outbox/{timeline.event_id}/")
    except UpstreamError as exc:
        timeline.notes.append(f"monolith outbox not read ({type(exc).__name__}: {exc})")
        return []
    if not isinstance(row, dict):
        timeline.notes.append("monolith outbox answered no object")
        return []
    timeline.event_type = timeline.event_type or str(row.get("event_type") or "")
    timeline.trace_id = timeline.trace_id or str(row.get("trace_id") or "")
    if row.get("aggregate_type") == "user":
        timeline.user_id = timeline.user_id or str(row.get("aggregate_id") or "")
    state = row.get("state", "?")
    return [
        ("created", _when(row.get("occurred_at")), "monolith: the change committed (envelope occurred_at)"),
        ("written", _when(row.get("created_at")), "monolith: outbox row inserted"),
        (
            "published",
            _when(row.get("sent_at")),
            f"monolith relay: SNS accepted it ({state}, {row.get('attempts', '?')} attempts)",
        ),
    ]


def event_timeline(event_id: str) -> Timeline:
    """The timeline of `event_id` from every record that knows it (see module docstring)."""
    event_id = str(uuid.UUID(str(event_id)))
    timeline = Timeline(event_id=event_id)
    marks: list[tuple[str, datetime.datetime | None, str]] = []

    handoff = HandOff.objects.filter(event_id=event_id).first()
    envelope = (handoff.envelope if handoff else None) or {}
    if handoff is not None:
        timeline.event_type, timeline.trace_id = handoff.event_type, handoff.trace_id
        timeline.user_id = handoff.aggregate_id if envelope.get("aggregate_type", "user") == "user" else ""
    monolith = _monolith_hops(timeline)
    if monolith:
        marks += monolith
    elif envelope.get("occurred_at"):
        marks.append(("created", _when(envelope["occurred_at"]), "envelope occurred_at"))

    inbox = list(InboxEntry.objects.filter(event_id=event_id).order_by("processed_at"))
    if handoff is not None:
        marks.append(("received", handoff.received_at, "bridge: SQS message received"))
        marks.append(
            (
                "handed over",
                handoff.handed_at,
                f"bridge: broker took {len(handoff.task_ids)} task(s)"
                + (f", re-published {handoff.attempts}x" if handoff.attempts else ""),
            )
        )
        task_ids = [str(task_id) for task_id in handoff.task_ids]
    else:
        timeline.notes.append("no hand-off record (not received yet, or pruned after it was applied)")
        task_ids = [task_id_for(event_id, entry.task_name) for entry in inbox]
    if inbox and not timeline.event_type:
        timeline.event_type = inbox[0].event_type
        timeline.user_id = timeline.user_id or inbox[0].aggregate_id

    for result in TaskResult.objects.filter(task_id__in=task_ids):
        marks.append(("task started", result.date_started, f"worker: {result.task_name or result.task_id}"))
        marks.append(
            (
                "task finished",
                result.date_done,
                f"worker: {result.task_name or result.task_id} {result.status}",
            )
        )
    for entry in inbox:
        marks.append(
            (
                "applied" if entry.outcome == InboxEntry.Outcome.APPLIED else entry.outcome,
                entry.processed_at,
                f"inbox: {entry.task_name} {entry.outcome}",
            )
        )
    if handoff is not None and handoff.applied_at is None and not inbox:
        timeline.notes.append("handed over, not applied yet")

    known = [(name, at, detail) for name, at, detail in marks if at is not None]
    previous: datetime.datetime | None = None
    for name, at, detail in known:
        since = (at - previous).total_seconds() if previous is not None else None
        timeline.hops.append(Hop(name, at, detail, since))
        previous = at
    return timeline
