"""What a running task's log records and spans know about it: its id, and for a task that applies
an event, the event's id, trace and user. Bound at Celery's task_prerun, cleared at task_postrun
(users_service/celery.py); a pool process runs one task at a time per thread, so nothing leaks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from events import tracecontext
from shared_settings.logs import hop_fields


def task_traceparent(task: Any, envelope: Mapping[str, Any] | None) -> tracecontext.TraceParent | None:
    """The trace the task belongs to: its `traceparent` header (the bridge sets it), else a new span
    in the envelope's trace."""
    request = getattr(task, "request", None)
    header = getattr(request, tracecontext.TRACEPARENT, None) if request is not None else None
    parent = tracecontext.TraceParent.parse(header)
    if parent is None and envelope is not None:
        parent = tracecontext.TraceParent.in_trace(envelope.get("trace_id"))
    return parent


def task_started(*, task_id: str | None, task: Any, args: Any) -> None:
    envelope = args[0] if args and isinstance(args[0], Mapping) else None
    fields = hop_fields(envelope) if envelope is not None else {}
    parent = task_traceparent(task, envelope)
    if parent is not None:
        fields["trace_id"] = parent.trace_id
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None), **fields)
    tracecontext.set_current(parent)


def task_finished() -> None:
    structlog.contextvars.clear_contextvars()
    tracecontext.set_current(None)
