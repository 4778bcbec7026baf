"""The bridge builds its task messages without `send_task` (events/bridge/celery_message.py): the
message in Redis is send_task's, field by field, and a real Celery worker runs it."""

from __future__ import annotations

import base64
import json
import threading
import zlib
from typing import Any

import redis
from celery.contrib.testing.worker import start_worker
from kombu import Queue

from events import types
from events.bridge.celery_message import TaskDestination
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.bridge.routing import TaskMessage, tasks_for
from events.tracecontext import TraceParent
from tests.events.bridge.helpers import APPLY, ROUTES, celery_app
from tests.events.test_envelope import user_event


class SendTaskPublisher(CeleryTaskPublisher):
    """Every task through `app.send_task`, as the bridge published before."""

    def _destination(self, name: str, queue: str) -> TaskDestination | None:
        return None


def raw_messages(broker_url: str, queue: str) -> list[dict[str, Any]]:
    """The kombu messages in a Redis queue (its priority lists included), oldest first, emptied."""
    client = redis.Redis.from_url(broker_url)
    messages = []
    # kombu keeps a priority above 0 in a list of its own: `<queue>\x06\x16<priority>`.
    for key in [queue, *(f"{queue}\x06\x16{priority}" for priority in range(1, 10))]:
        messages += [json.loads(item) for item in reversed(client.lrange(key, 0, -1))]
        client.delete(key)
    return messages


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    """The message without the one field that differs between any two publishes (kombu's random
    delivery tag), with its body decoded."""
    message = json.loads(json.dumps(message))
    assert message["properties"].pop("delivery_tag")
    assert message["properties"]["body_encoding"] == "base64"
    body = base64.b64decode(message["body"])
    message["body"] = json.loads(zlib.decompress(body) if message["headers"].get("compression") else body)
    return message


def tasks_of(*event_types: str) -> list[TaskMessage]:
    tasks = []
    for event_type in event_types:
        envelope = user_event(event_type)
        tasks += tasks_for(envelope, ROUTES, TraceParent.in_trace(envelope.trace_id))
    return tasks


def published_both_ways(app: Any, broker_url: str, tasks: list[TaskMessage]) -> list[tuple[dict, dict]]:
    """Each task published by send_task and by the bridge's own build, from the same thread."""
    pairs = []
    ours, theirs = CeleryTaskPublisher(app), SendTaskPublisher(app)
    try:
        for task in tasks:
            theirs.publish([task])
            (expected,) = raw_messages(broker_url, task.queue)
            ours.publish([task])
            (got,) = raw_messages(broker_url, task.queue)
            pairs.append((comparable(expected), comparable(got)))
    finally:
        ours.close()
        theirs.close()
    return pairs


def test_the_message_is_the_one_send_task_builds(redis_url):
    app = celery_app(redis_url)
    tasks = tasks_of(types.USER_CREATED, types.USER_UPDATED)
    assert all(TaskDestination.resolve(app, task.task, task.queue) is not None for task in tasks)
    pairs = published_both_ways(app, redis_url, tasks)
    assert len(pairs) == 3
    for expected, got in pairs:
        assert got == expected
        # What a worker reads, spelled out: protocol 2, the task, its id, the trace, the queue.
        assert got["headers"]["task"] in (APPLY, "resources.warm")
        assert got["headers"]["id"] == got["properties"]["correlation_id"]
        assert TraceParent.parse(got["headers"]["traceparent"]) is not None
        queue = "events" if got["headers"]["task"] == APPLY else "cache"
        assert got["properties"]["delivery_info"] == {"exchange": "", "routing_key": queue}
        assert got["properties"]["delivery_mode"] == 2
        assert got["properties"]["priority"] == 0
        assert got["body"][1:] == [{}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]


def test_a_tasks_own_options_and_a_routes_priority_are_kept(redis_url):
    app = celery_app(redis_url)
    app.conf.task_queues = (Queue("events"), Queue("cache", max_priority=9))
    app.conf.task_routes = {"resources.warm": {"queue": "cache", "priority": 7, "delivery_mode": 1}}

    @app.task(name=APPLY, compression="zlib", serializer="json", shared=False)
    def apply(envelope: dict) -> None: ...

    app.finalize()  # the task in the registry (as in a worker), where send_task finds its options
    pairs = published_both_ways(app, redis_url, tasks_of(types.USER_CREATED))
    assert [got["headers"].get("compression") for _, got in pairs] == ["application/x-gzip", None]
    assert [got["properties"]["delivery_mode"] for _, got in pairs] == [2, 1]
    assert [got["properties"]["priority"] for _, got in pairs] == [0, 7]
    for expected, got in pairs:
        assert got == expected


def test_a_task_with_an_expiry_goes_through_send_task(redis_url):
    app = celery_app(redis_url)

    @app.task(name=APPLY, expires=60, shared=False)
    def apply(envelope: dict) -> None: ...

    app.finalize()
    assert TaskDestination.resolve(app, APPLY, "events") is None
    assert TaskDestination.resolve(app, "resources.warm", "cache") is not None
    (expected, got), _ = published_both_ways(app, redis_url, tasks_of(types.USER_CREATED))
    assert got["headers"]["expires"] is not None
    assert {k: v for k, v in got["headers"].items() if k != "expires"} == {
        k: v for k, v in expected["headers"].items() if k != "expires"
    }


def test_a_real_worker_runs_tasks_published_this_way(redis_url):
    app = celery_app(redis_url)
    ran: list[dict[str, Any]] = []
    done = threading.Event()
    tasks = tasks_of(types.USER_UPDATED, types.USER_UPDATED)

    @app.task(name=APPLY, bind=True, shared=False)
    def apply(self: Any, envelope: dict) -> None:
        ran.append(
            {
                "id": self.request.id,
                "envelope": envelope,
                "traceparent": getattr(self.request, "traceparent", None),
                "routing_key": self.request.delivery_info["routing_key"],
            }
        )
        if len(ran) == len(tasks):
            done.set()

    publisher = CeleryTaskPublisher(app)
    try:
        publisher.publish(tasks)
    finally:
        publisher.close()
    with start_worker(app, pool="solo", perform_ping_check=False, queues=["events"], shutdown_timeout=10):
        assert done.wait(30)
    assert ran == [
        {"id": t.task_id, "envelope": t.envelope, "traceparent": t.traceparent, "routing_key": "events"}
        for t in tasks
    ]
