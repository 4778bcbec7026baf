"""Create the SNS topic, the SQS queue, its DLQ and the subscription, idempotently.

The embedded stack, the LocalStack init script and the tests all call
`ensure_topology`, so the names and the redrive policy live in one place.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

DEFAULT_TOPIC = "hr-user-events"
DEFAULT_QUEUE = "users-service-events"
DEFAULT_DLQ = "users-service-events-dlq"


@dataclass(frozen=True)
class TopologyNames:
    topic: str = DEFAULT_TOPIC
    queue: str = DEFAULT_QUEUE
    dlq: str = DEFAULT_DLQ
    #: Receives before SQS moves a message to the DLQ by itself (the backstop).
    max_receive_count: int = 20
    visibility_timeout: int = 30
    #: Raw delivery puts the envelope straight in the SQS body, without the SNS notification (and its
    #: TopicArn). The bridge reads the same setting: it accepts bare envelopes only when this is on.
    raw_delivery: bool = False

    @classmethod
    def from_env(cls, environ: Any = None) -> TopologyNames:
        env = os.environ if environ is None else environ
        return cls(
            topic=env.get("EVENTS_TOPIC_NAME", DEFAULT_TOPIC),
            queue=env.get("EVENTS_QUEUE_NAME", DEFAULT_QUEUE),
            dlq=env.get("EVENTS_DLQ_NAME", DEFAULT_DLQ),
            max_receive_count=int(env.get("EVENTS_MAX_RECEIVE_COUNT", "20")),
            visibility_timeout=int(env.get("EVENTS_VISIBILITY_TIMEOUT", "30")),
            raw_delivery=env.get("EVENTS_RAW_DELIVERY", "0") in ("1", "true", "yes"),
        )


@dataclass(frozen=True)
class Topology:
    topic_arn: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    subscription_arn: str


def _queue_arn(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def ensure_topology(sns: Any, sqs: Any, names: TopologyNames | None = None) -> Topology:
    """Create what is missing and bring attributes up to date; safe to call at every start."""
    names = names or TopologyNames()
    topic_arn = sns.create_topic(Name=names.topic)["TopicArn"]

    dlq_url = sqs.create_queue(QueueName=names.dlq)["QueueUrl"]
    dlq_arn = _queue_arn(sqs, dlq_url)
    sqs.set_queue_attributes(QueueUrl=dlq_url, Attributes={"MessageRetentionPeriod": "1209600"})

    queue_url = sqs.create_queue(QueueName=names.queue)["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={
            "VisibilityTimeout": str(names.visibility_timeout),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(names.max_receive_count)}
            ),
            "Policy": json.dumps(queue_policy(queue_arn, topic_arn)),
        },
    )
    subscription_arn = _subscribe(sns, topic_arn, queue_arn, raw_delivery=names.raw_delivery)
    return Topology(topic_arn, queue_url, queue_arn, dlq_url, dlq_arn, subscription_arn)


class TopologyMissing(LookupError):
    """A part of the topology is not there: provisioning (`manage.py hr provision_topology`, the
    LocalStack init script, or the infrastructure's own tooling on AWS) has not run."""


def find_topic_arn(sns: Any, name: str) -> str:
    """The ARN of the topic `name`, never creating it: the processes that publish or consume hold
    no permission to create topics (docs/aws.md), so a missing topic is a deployment error to name,
    not something to paper over. Needs `sns:ListTopics` only."""
    for page in sns.get_paginator("list_topics").paginate():
        for topic in page.get("Topics", []):
            if topic["TopicArn"].rsplit(":", 1)[-1] == name:
                return topic["TopicArn"]
    raise TopologyMissing(f"SNS topic {name!r} does not exist: run `manage.py hr provision_topology` first")


def find_queue_url(sqs: Any, name: str) -> str:
    """The URL of the queue `name`, never creating it (needs `sqs:GetQueueUrl` only)."""
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist as exc:
        raise TopologyMissing(
            f"SQS queue {name!r} does not exist: run `manage.py hr provision_topology` first"
        ) from exc


def queue_policy(queue_arn: str, topic_arn: str) -> dict[str, Any]:
    """The queue's resource policy: SNS may send to it on behalf of our topic, and no one else is
    granted anything. (Principals of the account itself still need an IAM permission to send: give
    it to the DLQ redrive's role only, never to the bridge; see docs/bridge-intake.md.)"""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "topic-to-queue",
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }
        ],
    }


def _subscribe(sns: Any, topic_arn: str, queue_arn: str, *, raw_delivery: bool) -> str:
    """The queue's subscription to the topic, with RawMessageDelivery as configured.

    SNS refuses to subscribe again with different attributes ("Subscription already exists with
    different attributes"), so an existing subscription is found and its attribute set instead.
    """
    raw = "true" if raw_delivery else "false"
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
        for subscription in page.get("Subscriptions", []):
            if subscription.get("Protocol") == "sqs" and subscription.get("Endpoint") == queue_arn:
                arn = subscription["SubscriptionArn"]
                sns.set_subscription_attributes(
                    SubscriptionArn=arn, AttributeName="RawMessageDelivery", AttributeValue=raw
                )
                return arn
    return sns.subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": raw},
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]


def main() -> int:
    """`python -m events.topology`: create the topology named by the environment (LocalStack init)."""
    from events.aws import AwsSettings, client

    aws = AwsSettings.from_env()
    created = ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames.from_env())
    print(f"topology ready: {created.topic_arn} -> {created.queue_url} (DLQ {created.dlq_url})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
