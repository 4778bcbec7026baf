"""Provisioning is its own command; the relay only looks the topic up and never creates it (on AWS
its role may publish, nothing more: docs/aws.md)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from events.topology import TopologyMissing, TopologyNames, find_topic_arn


def test_provision_topology_creates_the_topic_queue_dlq_and_subscription(sns, sqs, monkeypatch):
    monkeypatch.setenv("EVENTS_MAX_RECEIVE_COUNT", "4")
    out = io.StringIO()
    call_command("provision_topology", stdout=out)
    names = TopologyNames()
    topic_arn = find_topic_arn(sns, names.topic)
    assert f"topic {topic_arn}" in out.getvalue()
    queue_url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    dlq_url = sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert (redrive["deadLetterTargetArn"], int(redrive["maxReceiveCount"])) == (dlq_arn, 4)
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    assert subscription["Endpoint"] == attributes["QueueArn"]


def test_provision_topology_is_idempotent(sns, sqs):
    call_command("provision_topology", stdout=io.StringIO())
    call_command("provision_topology", stdout=io.StringIO())
    topic_arn = find_topic_arn(sns, TopologyNames().topic)
    assert len(sns.list_topics()["Topics"]) == 1
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]) == 1
    assert len(sqs.list_queues()["QueueUrls"]) == 2


def test_find_topic_arn_names_the_missing_topic_and_creates_nothing(sns):
    sns.create_topic(Name="some-other-topic")
    with pytest.raises(TopologyMissing, match="hr-user-events"):
        find_topic_arn(sns, "hr-user-events")
    assert [t["TopicArn"].rsplit(":", 1)[1] for t in sns.list_topics()["Topics"]] == ["some-other-topic"]


@pytest.mark.django_db
def test_relay_refuses_to_create_the_topic(sns):
    with pytest.raises(CommandError, match="provision_topology"):
        call_command("relay_outbox", "--once", stdout=io.StringIO())
    assert sns.list_topics()["Topics"] == []


@pytest.mark.django_db
def test_relay_finds_a_provisioned_topic(sns, sqs, topology):
    out = io.StringIO()
    call_command("relay_outbox", "--once", stdout=out)
    assert sns.list_topics()["Topics"] == [{"TopicArn": topology.topic_arn}]
