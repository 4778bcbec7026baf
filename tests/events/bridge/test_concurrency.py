"""Concurrency: several receive loops share one queue; each message is published once and deleted once.

SQS hides a received message from every other receiver for the visibility
timeout, and each loop keeps its batch to itself, so no message is processed by
two loops while in flight. The loops also share the stats safely.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from events import types
from tests.events.bridge.helpers import APPLY, make_bridge, queue_depth, queued_task_ids, send_notifications
from tests.events.test_envelope import user_event


class AtomicReceive:
    """The real client, with `receive_message` made atomic as it is in SQS: in-process moto's
    receive is not thread-safe and now and then hands one message to two concurrent callers
    (FIELD-NOTES). Everything else, the loops included, runs concurrently as in production."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self._lock = threading.Lock()

    def receive_message(self, **request: Any) -> dict:
        with self._lock:
            return self._sqs.receive_message(**request)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)


def test_four_loops_drain_the_queue_each_message_once(sqs, top, redis_url):
    events = [user_event(types.USER_UPDATED, version=v) for v in range(1, 61)]
    send_notifications(sqs, top, [e.to_json() for e in events])
    bridge = make_bridge(AtomicReceive(sqs), top, redis_url, visibility_timeout=30, heartbeat_seconds=0)
    sqs.set_queue_attributes(QueueUrl=top.queue_url, Attributes={"VisibilityTimeout": "30"})
    stop = threading.Event()
    runner = threading.Thread(target=bridge.run, args=(stop,), kwargs={"threads": 4})
    runner.start()
    deadline = time.monotonic() + 30
    while bridge.stats.snapshot()["deleted"] < len(events) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    runner.join(10)

    published = Counter(queued_task_ids(redis_url))
    assert published == Counter(f"{e.event_id}:{APPLY}" for e in events)  # every event, each once
    snapshot = bridge.stats.snapshot()
    assert (snapshot["received"], snapshot["deleted"], snapshot["redelivered"]) == (60, 60, 0)
    assert queue_depth(sqs, top.queue_url) == 0
    assert not runner.is_alive()


def test_a_loop_that_cannot_start_stops_the_bridge_with_its_error(sqs, top, redis_url):
    def no_client() -> Any:
        raise RuntimeError("no SQS client today")

    bridge = make_bridge(sqs, top, redis_url, new_sqs_client=no_client)
    stop = threading.Event()
    raised: list[BaseException] = []

    def run() -> None:
        try:
            bridge.run(stop, threads=2)
        except RuntimeError as exc:
            raised.append(exc)

    runner = threading.Thread(target=run)
    runner.start()
    runner.join(10)
    stop.set()  # lets a bridge that missed the error end
    runner.join(10)

    assert [str(e) for e in raised] == ["no SQS client today"]
