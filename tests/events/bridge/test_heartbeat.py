"""Heartbeat: a slow batch's messages get their visibility extended, so no other loop receives them.

The queue's visibility timeout is 1 s; the publish (a real Celery publisher behind
a deliberate 2.5 s delay) outlasts it. A second consumer polls the queue meanwhile.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from events import types
from events.bridge import TaskMessage
from events.bridge.celery_publisher import CeleryTaskPublisher
from tests.events.bridge.helpers import APPLY, celery_app, make_bridge, publish, queue_depth, queued_task_ids
from tests.events.test_envelope import user_event


class SlowPublisher:
    """The real publisher, after a pause that outlasts the queue's visibility timeout."""

    def __init__(self, inner: CeleryTaskPublisher, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.started = threading.Event()

    def publish(self, tasks: Sequence[TaskMessage]) -> None:
        self.started.set()
        time.sleep(self.seconds)
        self.inner.publish(tasks)


def run_slow_batch(sns, sqs, top, redis_url, *, heartbeat_seconds: float) -> tuple[list[str], int]:
    """Run one slow batch in a thread; meanwhile another consumer polls the queue. Returns what it saw."""
    event = user_event(types.USER_UPDATED, version=1)
    publish(sns, top, event)
    slow = SlowPublisher(CeleryTaskPublisher(celery_app(redis_url)), seconds=2.5)
    bridge = make_bridge(
        sqs, top, redis_url, publisher=slow, visibility_timeout=1, heartbeat_seconds=heartbeat_seconds
    )
    batch = threading.Thread(target=bridge.poll_once)
    batch.start()
    assert slow.started.wait(10), "the bridge never started publishing"
    seen: list[str] = []
    while batch.is_alive():  # the message is in flight: another consumer polls for it
        for message in sqs.receive_message(QueueUrl=top.queue_url, WaitTimeSeconds=0).get("Messages", []):
            seen.append(message["MessageId"])
        time.sleep(0.1)
    batch.join()
    assert queued_task_ids(redis_url) == [f"{event.event_id}:{APPLY}"]
    return seen, bridge.stats.snapshot()["visibility_extensions"]


def test_slow_publish_extends_visibility_and_no_one_else_receives_the_message(sns, sqs, top, redis_url):
    seen, extensions = run_slow_batch(sns, sqs, top, redis_url, heartbeat_seconds=0.3)

    assert extensions >= 2
    assert seen == []
    assert queue_depth(sqs, top.queue_url) == 0


def test_without_the_heartbeat_another_consumer_would_get_it(sns, sqs, top, redis_url):
    """The control experiment: the same slow batch with no heartbeat is handed out again."""
    seen, extensions = run_slow_batch(sns, sqs, top, redis_url, heartbeat_seconds=0)

    assert extensions == 0
    assert seen  # the peeker received the message while the bridge was still publishing it
