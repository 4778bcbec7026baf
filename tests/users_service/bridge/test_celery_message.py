"""The users service's own task messages, published by the bridge without `send_task`
(events/bridge/celery_message.py), are the ones send_task builds with the service's Celery app,
its queues, routes and signal handlers, for every task of the routing table."""

from __future__ import annotations

import pytest

from events import types
from events.bridge.celery_message import TaskDestination
from events.bridge.routing import tasks_for
from events.tracecontext import TraceParent
from tests.events.bridge.test_celery_message import published_both_ways
from tests.samples import user_envelope
from users_service.ops.metrics import QUEUED_AT_HEADER
from users_service.routing import ROUTES


@pytest.mark.parametrize("event_type", sorted(t for t in ROUTES if t.startswith("user.")))
def test_each_routed_task_is_published_as_send_task_would(event_type, celery_broker):
    from users_service.celery import app

    app.finalize()  # the service's tasks in the registry: send_task then applies their own options
    envelope = user_envelope(event_type)
    tasks = tasks_for(envelope, ROUTES, TraceParent.in_trace(envelope.trace_id))
    assert tasks
    assert all(TaskDestination.resolve(app, task.task, task.queue) is not None for task in tasks)
    for expected, got in published_both_ways(app, celery_broker, tasks):
        # The service's before_task_publish handler stamps the time it was queued: a clock reading.
        assert isinstance(expected["headers"].pop(QUEUED_AT_HEADER), float)
        assert isinstance(got["headers"].pop(QUEUED_AT_HEADER), float)
        assert got == expected
        assert got["headers"]["argsrepr"] == expected["headers"]["argsrepr"]
        assert envelope.payload.get("email", "@") not in got["headers"]["argsrepr"]


def test_with_tracing_on_each_task_header_names_celerys_publish_span_under_the_events_span(
    spans, celery_broker
):
    from events.bridge.celery_publisher import CeleryTaskPublisher
    from tests.events.bridge.helpers import queued_tasks
    from users_service.celery import app

    envelope = user_envelope(types.USER_UPDATED)
    tasks = tasks_for(envelope, ROUTES, TraceParent.in_trace(envelope.trace_id))
    publisher = CeleryTaskPublisher(app)
    try:
        publisher.publish(tasks)
    finally:
        publisher.close()

    published = {s.context.span_id: s for s in spans.get_finished_spans() if s.kind.name == "PRODUCER"}
    headers = [
        h for task in tasks for h in queued_tasks(celery_broker, task.queue) if h["id"] == task.task_id
    ]
    assert len(headers) == len(tasks) == len(published)
    for task, header in zip(tasks, headers, strict=True):
        handed = TraceParent.parse(header["traceparent"])
        span = published[int(handed.span_id, 16)]
        assert span.name == f"apply_async/{task.task}"
        assert handed.trace_id == envelope.trace_id
        # Celery's publish span is a child of the span the bridge gave the task.
        assert format(span.parent.span_id, "016x") == TraceParent.parse(task.traceparent).span_id
