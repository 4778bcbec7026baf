"""What the bridge tests share: a routing table, a bridge on moto + real Redis, and readers of the outcome."""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any

import redis
from celery import Celery

from events import types
from events.bridge import Bridge, Route
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.bridge.dead_letters import DLQ_REASON_ATTRIBUTE
from events.bridge.loops import LoopOptions
from events.envelope import Envelope
from events.topology import Topology
from tests.conftest import receive_all
from tests.samples import sns_notification

APPLY = "directory.apply_user_event"
ROUTES = {
    types.USER_CREATED: (Route(APPLY, "events"), Route("resources.warm", "cache")),
    types.USER_UPDATED: (Route(APPLY, "events"),),
    types.CATALOGUE_CHANGED: (),
}


def celery_app(broker_url: str) -> Celery:
    # Not the current app: shared tasks of the users service must keep resolving to its own app.
    app = Celery("bridge-test", broker=broker_url, set_as_current=False)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry=False)
    return app


def make_bridge(sqs: Any, top: Topology, broker_url: str, **kwargs: Any) -> Bridge:
    """A bridge on the test topology; loop options (`LoopOptions`' fields) may be given by name."""
    loop_fields = {f.name for f in fields(LoopOptions)}
    loop = LoopOptions(**({"wait_seconds": 0} | {k: v for k, v in kwargs.items() if k in loop_fields}))
    options: dict[str, Any] = {
        "routes": ROUTES,
        "allowed_topic_arns": [top.topic_arn],
    } | {k: v for k, v in kwargs.items() if k not in loop_fields}
    publisher = options.pop("publisher", None) or CeleryTaskPublisher(celery_app(broker_url))
    return Bridge(
        sqs=sqs,
        queue_url=top.queue_url,
        dlq_url=top.dlq_url,
        publisher=publisher,
        options=loop,
        **options,
    )


def publish(sns: Any, top: Topology, envelope: Envelope | str) -> None:
    """Publish through the topic, as the monolith does (a string is sent as it is: poison, say)."""
    sns.publish(TopicArn=top.topic_arn, Message=envelope if isinstance(envelope, str) else envelope.to_json())


def send_notifications(sqs: Any, top: Topology, messages: list[str]) -> None:
    """Put SNS notifications of the topic straight into the queue, ten a call (quicker than SNS)."""
    for start in range(0, len(messages), 10):
        sqs.send_message_batch(
            QueueUrl=top.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": sns_notification(top.topic_arn, m)}
                for i, m in enumerate(messages[start : start + 10])
            ],
        )


def queued_tasks(broker_url: str, queue: str) -> list[dict]:
    """Task messages waiting in a kombu Redis queue (a Redis list named after the queue), oldest first."""
    raw = redis.Redis.from_url(broker_url).lrange(queue, 0, -1)
    return [json.loads(item)["headers"] for item in reversed(raw)]


def queued_task_ids(broker_url: str, queue: str = "events") -> list[str]:
    return [task["id"] for task in queued_tasks(broker_url, queue)]


def dlq_reasons(sqs: Any, top: Topology) -> list[str]:
    return [
        m["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"] for m in receive_all(sqs, top.dlq_url)
    ]


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Visible plus in-flight messages."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )
