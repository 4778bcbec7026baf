"""Partial delete failure: SQS may fail some entries of a `delete_message_batch`; only those are retried.

`FlakyDeletes` is a thin wrapper of the real moto client: on its first delete call
it forwards only half of the entries to SQS and reports the rest as failed the
way SQS does (`InternalError`, `SenderFault: false`). Everything else is moto.
"""

from __future__ import annotations

from typing import Any

from events import types
from tests.events.bridge.helpers import APPLY, make_bridge, publish, queue_depth, queued_task_ids
from tests.events.test_envelope import user_event


class FlakyDeletes:
    def __init__(self, sqs: Any, failing_calls: int = 1) -> None:
        self._sqs = sqs
        self.failing_calls = failing_calls
        self.delete_calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sqs, name)

    def delete_message_batch(self, *, QueueUrl: str, Entries: list[dict]) -> dict:
        self.delete_calls.append([entry["Id"] for entry in Entries])
        if len(self.delete_calls) > self.failing_calls:
            return self._sqs.delete_message_batch(QueueUrl=QueueUrl, Entries=Entries)
        kept, dropped = Entries[: len(Entries) // 2], Entries[len(Entries) // 2 :]
        response = self._sqs.delete_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {}
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for e in dropped
        ]
        return {"Successful": response.get("Successful", []), "Failed": failed}


def test_failed_entries_are_retried_and_only_they(sns, sqs, top, redis_url):
    events = [user_event(types.USER_UPDATED, version=v) for v in range(1, 5)]
    for event in events:
        publish(sns, top, event)
    flaky = FlakyDeletes(sqs)
    bridge = make_bridge(flaky, top, redis_url)

    deleted = 0
    while deleted < 4:
        outcome = bridge.poll_once()
        assert outcome.received, "the queue ran dry before every message was deleted"
        deleted += outcome.deleted

    first, retry, *_ = flaky.delete_calls
    assert len(retry) == len(first) - len(first) // 2  # the retry carries just the failed half
    assert set(retry) <= set(first)
    assert queue_depth(sqs, top.queue_url) == 0
    assert sorted(queued_task_ids(redis_url)) == sorted(f"{e.event_id}:{APPLY}" for e in events)
    assert bridge.stats.snapshot()["delete_failures"] == 0


def test_entries_still_failing_after_the_retries_are_redelivered_not_lost(sns, sqs, top, redis_url):
    event = user_event(types.USER_UPDATED, version=1)
    publish(sns, top, event)
    # One entry per call: the dropped half is that entry, on every attempt (3).
    bridge = make_bridge(FlakyDeletes(sqs, failing_calls=3), top, redis_url, visibility_timeout=1)

    assert bridge.poll_once().deleted == 0
    assert bridge.stats.snapshot()["delete_failures"] == 1
    assert queue_depth(sqs, top.queue_url) == 1  # still there: it comes back after the visibility timeout
