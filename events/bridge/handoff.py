"""The durable record of a hand-off: what the bridge writes after the broker took an event's tasks
and before SQS forgets the message.

The broker (Redis) may lose what it holds (restart without persistence, failover, eviction,
FLUSHALL). Once the SQS message is deleted, this record is the only durable trace of the event
on the consumer's side: a sweeper in the consuming service re-publishes the tasks of every record
not yet applied. `events/` imports no Django, so the bridge sees the store only through the
`HandOffLog` port; the users service implements it on its database (users_service/bridge/handoff.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from events.bridge.fates import Publish


@dataclass(frozen=True)
class HandOff:
    """One event whose tasks the broker accepted. Nothing personal: ids and types only."""

    event_id: str
    event_type: str
    aggregate_id: str
    trace_id: str
    #: The deterministic task ids handed over, which a re-publish reuses (the inbox dedups them).
    task_ids: tuple[str, ...]
    task_names: tuple[str, ...]
    received_at: datetime
    handed_at: datetime
    #: What the tasks carry, so that they can be published again after the broker lost them.
    envelope: dict[str, Any]


class HandOffLog(Protocol):
    def record(self, handoffs: Sequence[HandOff]) -> None:
        """Write every record durably, in one write, or raise `TransientError` (then the bridge
        deletes none of these messages: SQS redelivers them). A record already there is kept."""


def handoffs_of(ready: Sequence[Publish], *, received_at: datetime, handed_at: datetime) -> list[HandOff]:
    """The records of the events whose tasks were just published (an event with no task has none)."""
    records = []
    for fate in ready:
        if not fate.tasks:
            continue
        envelope = fate.tasks[0].envelope
        records.append(
            HandOff(
                event_id=str(envelope["event_id"]),
                event_type=str(envelope["event_type"]),
                aggregate_id=str(envelope["aggregate_id"]),
                trace_id=str(envelope.get("trace_id") or ""),
                task_ids=tuple(task.task_id for task in fate.tasks),
                task_names=tuple(task.task for task in fate.tasks),
                received_at=received_at,
                handed_at=handed_at,
                envelope=envelope,
            )
        )
    return records
