"""The topology module creates topic, queue, DLQ and subscription idempotently."""

from __future__ import annotations

import json

from events.topology import TopologyNames, ensure_topology
from tests.conftest import receive_all


def test_topology_is_idempotent_and_delivers(sns, sqs):
    names = TopologyNames(max_receive_count=4)
    first = ensure_topology(sns, sqs, names)
    second = ensure_topology(sns, sqs, names)
    assert first == second
    assert len(sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]) == 1

    attributes = sqs.get_queue_attributes(QueueUrl=first.queue_url, AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == first.dlq_arn
    assert int(redrive["maxReceiveCount"]) == 4

    sns.publish(TopicArn=first.topic_arn, Message='{"hello": 1}')
    [message] = receive_all(sqs, first.queue_url)
    wrapped = json.loads(message["Body"])
    assert wrapped["TopicArn"] == first.topic_arn
    assert json.loads(wrapped["Message"]) == {"hello": 1}


def test_names_come_from_the_environment():
    names = TopologyNames.from_env({"EVENTS_TOPIC_NAME": "t", "EVENTS_MAX_RECEIVE_COUNT": "9"})
    assert names.topic == "t"
    assert names.queue == "users-service-events"
    assert names.max_receive_count == 9
