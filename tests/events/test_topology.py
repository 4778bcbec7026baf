"""The topology module creates topic, queue, DLQ and subscription idempotently."""

from __future__ import annotations

import json

from events.backoff import redelivery_delay
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


def subscription_raw(sns, top) -> str:
    return sns.get_subscription_attributes(SubscriptionArn=top.subscription_arn)["Attributes"][
        "RawMessageDelivery"
    ]


def test_subscription_follows_the_raw_delivery_setting_both_ways(sns, sqs):
    wrapped = ensure_topology(sns, sqs, TopologyNames())
    assert subscription_raw(sns, wrapped) == "false"

    raw = ensure_topology(sns, sqs, TopologyNames(raw_delivery=True))
    assert raw.subscription_arn == wrapped.subscription_arn  # the same subscription, changed
    assert subscription_raw(sns, raw) == "true"
    assert len(sns.list_subscriptions_by_topic(TopicArn=raw.topic_arn)["Subscriptions"]) == 1
    sns.publish(TopicArn=raw.topic_arn, Message='{"hello": 1}')
    [message] = receive_all(sqs, raw.queue_url)
    assert json.loads(message["Body"]) == {"hello": 1}

    back = ensure_topology(sns, sqs, TopologyNames())
    assert subscription_raw(sns, back) == "false"


def test_queue_policy_lets_only_the_topic_send_and_is_set_idempotently(sns, sqs):
    first = ensure_topology(sns, sqs, TopologyNames())
    ensure_topology(sns, sqs, TopologyNames())
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=first.queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"]
    )

    [statement] = policy["Statement"]  # set again, not appended to
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "sns.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Resource"] == first.queue_arn
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": first.topic_arn}}


def test_raw_delivery_comes_from_the_environment():
    assert TopologyNames.from_env({}).raw_delivery is False
    assert TopologyNames.from_env({"EVENTS_RAW_DELIVERY": "true"}).raw_delivery is True


def test_the_default_redrive_budget_outlasts_a_five_minute_outage():
    """While the broker or the users database is down, each receive of a message that cannot be
    handed over counts towards the redrive; the bridge leaves it invisible for a growing delay.
    The default receive count must cover a five-minute outage before SQS dead-letters events."""
    names = TopologyNames.from_env({})
    shortest = sum(
        min(names.visibility_timeout, min(redelivery_delay(count) for _ in range(50)))
        for count in range(1, names.max_receive_count)
    )
    assert shortest >= 300
