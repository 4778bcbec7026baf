"""What an event fans out to: the routing table's types and the task messages built from it.

The table itself (event type -> routes) belongs to the consuming service
(`users_service/routing.py`); the bridge only reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from events.envelope import Envelope
from events.errors import InvalidMessage
from events.tracecontext import TraceParent

REASON_UNROUTABLE = "unroutable"


@dataclass(frozen=True)
class Route:
    """One task an event type fans out to."""

    task: str
    queue: str


RoutingTable = Mapping[str, Sequence[Route]]


@dataclass(frozen=True)
class TaskMessage:
    task_id: str
    task: str
    queue: str
    envelope: dict[str, Any]
    #: Sent as the task's `traceparent` header: the worker's logs and spans join the event's trace.
    traceparent: str | None = None


def task_id_for(event_id: str, task: str) -> str:
    """Deterministic task id: a redelivered event produces the same ids."""
    return f"{event_id}:{task}"


def task_name_of(task_id: str) -> str:
    """The task name inside a `task_id_for` id (an event id holds no colon)."""
    return task_id.partition(":")[2]


def tasks_for(
    envelope: Envelope, routes: RoutingTable, traceparent: TraceParent | None = None
) -> list[TaskMessage]:
    """The tasks an event fans out to (maybe none); an event type not in the table is poison.

    Each task is a new span in the trace of `traceparent` (the hop before)."""
    if envelope.event_type not in routes:
        raise InvalidMessage(REASON_UNROUTABLE, path="event_type", validator="routing_table")
    data = _task_argument(envelope)
    return [
        TaskMessage(
            task_id_for(envelope.event_id, route.task),
            route.task,
            route.queue,
            data,
            str(traceparent.child()) if traceparent is not None else None,
        )
        for route in routes[envelope.event_type]
    ]


def _task_argument(envelope: Envelope) -> dict[str, Any]:
    """The envelope as its tasks' argument, the payload not copied.

    `Envelope.to_dict` copies the payload, a fifth of the bridge's CPU per message between receipt
    and publish (bench/_profile_bridge.py), to guard an envelope that lives on. The bridge's envelope
    was parsed for one SQS message and is dropped once its tasks are built, and nothing changes a
    task's argument after: the copy guarded nothing.
    """
    return {name: getattr(envelope, name) for name in envelope.__dataclass_fields__}
