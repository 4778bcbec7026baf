"""Intake: SNS notifications from an allowed topic fan out; a foreign TopicArn or a bare envelope
is refused, unless the subscription is raw (`raw_delivery`): then a bare envelope is accepted."""

from __future__ import annotations

import json
import uuid

from events import types
from events.envelope import Envelope
from events.topology import TopologyNames, ensure_topology
from tests.conftest import receive_all
from tests.events.bridge.helpers import (
    APPLY,
    dlq_reasons,
    make_bridge,
    publish,
    queued_task_ids,
    queued_tasks,
)
from tests.events.test_envelope import user_event


def test_sns_wrapped_event_fans_out_with_deterministic_task_ids(sns, sqs, top, redis_url):
    event = user_event(types.USER_CREATED)
    publish(sns, top, event)

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert (outcome.received, outcome.deleted, outcome.dead_lettered) == (1, 1, 0)
    [apply] = queued_tasks(redis_url, "events")
    [warm] = queued_tasks(redis_url, "cache")
    assert apply["id"] == f"{event.event_id}:{APPLY}"
    assert apply["task"] == APPLY
    assert warm["id"] == f"{event.event_id}:resources.warm"
    assert receive_all(sqs, top.queue_url) == []


def test_bare_envelope_sent_straight_to_the_queue_is_refused(sqs, top, redis_url):
    event = user_event(types.USER_UPDATED, version=2)
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=event.to_json())

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert (outcome.dead_lettered, outcome.deleted) == (1, 1)
    assert dlq_reasons(sqs, top) == ["not_an_sns_notification"]
    assert queued_tasks(redis_url, "events") == []


def test_raw_delivery_subscription_end_to_end(sns, sqs, redis_url):
    top = ensure_topology(sns, sqs, TopologyNames(visibility_timeout=1, raw_delivery=True))
    event = user_event(types.USER_UPDATED, version=4)
    publish(sns, top, event)

    assert make_bridge(sqs, top, redis_url, raw_delivery=True).poll_once().deleted == 1
    assert queued_task_ids(redis_url) == [f"{event.event_id}:{APPLY}"]


def test_raw_delivery_off_refuses_what_a_raw_subscription_delivers(sns, sqs, redis_url):
    """The setting and the subscription must agree; they read the same EVENTS_RAW_DELIVERY."""
    top = ensure_topology(sns, sqs, TopologyNames(visibility_timeout=1, raw_delivery=True))
    publish(sns, top, user_event(types.USER_UPDATED))

    assert make_bridge(sqs, top, redis_url).poll_once().dead_lettered == 1
    assert dlq_reasons(sqs, top) == ["not_an_sns_notification"]


def test_notification_with_a_message_that_is_not_a_string_is_poison(sqs, top, redis_url):
    """A JSON object as `Message` once raised TypeError inside the loop and killed the bridge."""
    notification = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": top.topic_arn,
        "Message": user_event().to_dict(),
    }
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=json.dumps(notification))

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert (outcome.dead_lettered, outcome.deleted) == (1, 1)
    assert dlq_reasons(sqs, top) == ["bad_sns_notification"]


def test_event_with_no_tasks_is_acknowledged(sns, sqs, top, redis_url):
    catalogue = Envelope(
        event_type=types.CATALOGUE_CHANGED,
        aggregate_type="catalogue",
        aggregate_id="departments:ENG",
        aggregate_version=1,
        producer="hr_monolith",
        payload={"kind": "departments", "code": "ENG", "name": "Engineering", "change": "created"},
    )
    publish(sns, top, catalogue)
    bridge = make_bridge(sqs, top, redis_url)
    assert bridge.poll_once().deleted == 1
    assert bridge.stats.snapshot()["ignored"] == 1


def test_forged_topic_is_refused(sqs, top, redis_url):
    forged = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:999999999999:someone-else",
        "Message": user_event().to_json(),
    }
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=json.dumps(forged))

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert (outcome.dead_lettered, outcome.deleted) == (1, 1)
    assert dlq_reasons(sqs, top) == ["topic_not_allowed"]
    assert queued_tasks(redis_url, "events") == []


def test_a_second_allowed_topic_is_accepted(sns, sqs, top, redis_url):
    other = sns.create_topic(Name="hr-user-events-replay")["TopicArn"]
    wrapped = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": other,
        "Message": user_event(types.USER_UPDATED).to_json(),
    }
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=json.dumps(wrapped))
    bridge = make_bridge(sqs, top, redis_url, allowed_topic_arns=[top.topic_arn, other])

    assert bridge.poll_once().deleted == 1
    assert len(queued_task_ids(redis_url)) == 1
