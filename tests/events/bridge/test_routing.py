"""An event's tasks: one per route, deterministic ids, the envelope as the contract spells it."""

from __future__ import annotations

import json

from events import types
from events.bridge.routing import tasks_for
from events.tracecontext import TraceParent
from tests.events.bridge.helpers import APPLY, ROUTES
from tests.events.test_envelope import user_event


def test_each_task_carries_the_whole_envelope_under_a_deterministic_id():
    envelope = user_event(types.USER_CREATED)
    parent = TraceParent.in_trace(envelope.trace_id)

    tasks = tasks_for(envelope, ROUTES, parent)

    assert [(t.task, t.queue) for t in tasks] == [(APPLY, "events"), ("resources.warm", "cache")]
    assert [t.task_id for t in tasks] == [f"{envelope.event_id}:{t.task}" for t in tasks]
    for task in tasks:
        assert task.envelope == envelope.to_dict()
        assert json.loads(json.dumps(task.envelope)) == json.loads(envelope.to_json())
        # Each task is a span of its own in the event's trace.
        assert TraceParent.parse(task.traceparent).trace_id == envelope.trace_id
