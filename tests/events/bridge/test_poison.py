"""Poison: a message that can never succeed goes to the DLQ at once, with its reason, and leaves the queue."""

from __future__ import annotations

import json

import pytest

from events import types
from events.bridge.dead_letters import DLQ_DETAIL_ATTRIBUTE, DLQ_REASON_ATTRIBUTE
from tests.conftest import receive_all
from tests.events.bridge.helpers import APPLY, dlq_reasons, make_bridge, publish, queued_task_ids
from tests.events.test_envelope import user_event


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "bad_json"),
        (json.dumps({"event_type": "user.promoted"}), "unknown_event_type"),
        (json.dumps(user_event().to_dict() | {"schema_version": 7}), "unknown_schema_version"),
        (json.dumps(user_event().to_dict() | {"aggregate_version": "three"}), "schema_violation"),
        ("x" * (220 * 1024), "too_large"),
        # A contract type that this service's routing table does not know.
        (user_event(types.USER_DEACTIVATED).to_json(), "unroutable"),
    ],
)
def test_poison_message_goes_to_the_dlq_with_its_reason(sns, sqs, top, redis_url, body, reason):
    publish(sns, top, body)
    bridge = make_bridge(sqs, top, redis_url)

    outcome = bridge.poll_once()

    assert (outcome.dead_lettered, outcome.deleted) == (1, 1)
    assert dlq_reasons(sqs, top) == [reason]
    assert receive_all(sqs, top.queue_url) == []
    assert queued_task_ids(redis_url) == []
    assert bridge.stats.snapshot()["dead_lettered"] == {reason: 1}


def test_dead_letter_keeps_the_body_and_says_why(sns, sqs, top, redis_url):
    event = user_event(types.USER_UPDATED)
    broken = event.to_dict() | {"aggregate_version": "three"}
    publish(sns, top, json.dumps(broken))
    [sent] = sqs.receive_message(QueueUrl=top.queue_url, VisibilityTimeout=0)["Messages"]
    make_bridge(sqs, top, redis_url).poll_once()

    [dead] = receive_all(sqs, top.dlq_url)
    assert dead["Body"] == sent["Body"]  # the whole SNS notification: a redrive passes the topic check
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes[DLQ_REASON_ATTRIBUTE] == "schema_violation"
    assert attributes[DLQ_DETAIL_ATTRIBUTE] == "aggregate_version (type)"
    assert attributes["source_message_id"] == sent["MessageId"]
    assert attributes["event_id"] == event.event_id


def test_good_and_poison_messages_in_one_batch_are_each_handled(sns, sqs, top, redis_url):
    good = user_event(types.USER_UPDATED, version=3)
    publish(sns, top, good)
    publish(sns, top, "{broken")

    bridge = make_bridge(sqs, top, redis_url)
    for _ in range(3):
        bridge.poll_once()

    assert queued_task_ids(redis_url) == [f"{good.event_id}:{APPLY}"]
    assert dlq_reasons(sqs, top) == ["bad_json"]
    assert receive_all(sqs, top.queue_url) == []
