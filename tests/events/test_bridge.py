"""The bridge's guarantees, on moto (in-process) and a real Redis broker.

Each test is a behaviour a user of the bridge relies on: what gets published,
what gets deleted, what goes to the DLQ and why, and what is left for redelivery.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis
from celery import Celery

from events import types
from events.bridge import DLQ_REASON_ATTRIBUTE, Bridge, Route
from events.celery_publisher import CeleryTaskPublisher
from events.envelope import Envelope
from events.errors import TransientError
from events.topology import TopologyNames, ensure_topology
from tests.conftest import receive_all
from tests.events.test_envelope import user_event

ROUTES = {
    types.USER_CREATED: (Route("directory.apply_user_event", "events"), Route("resources.warm", "cache")),
    types.USER_UPDATED: (Route("directory.apply_user_event", "events"),),
    types.CATALOGUE_CHANGED: (),
}


def celery_app(broker_url: str) -> Celery:
    app = Celery("bridge-test", broker=broker_url)
    app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry=False)
    return app


def queued_tasks(broker_url: str, queue: str) -> list[dict]:
    """Task messages waiting in a kombu Redis queue (a Redis list named after the queue)."""
    raw = redis.Redis.from_url(broker_url).lrange(queue, 0, -1)
    return [json.loads(item)["headers"] for item in raw]


@pytest.fixture
def top(sns, sqs):
    return ensure_topology(sns, sqs, TopologyNames(visibility_timeout=1, max_receive_count=5))


def make_bridge(sqs, top, broker_url: str, **kwargs) -> Bridge:
    return Bridge(
        sqs=sqs,
        queue_url=top.queue_url,
        dlq_url=top.dlq_url,
        publisher=CeleryTaskPublisher(celery_app(broker_url)),
        routes=ROUTES,
        allowed_topic_arns=[top.topic_arn],
        wait_seconds=0,
        **kwargs,
    )


def publish(sns, top, envelope: Envelope) -> None:
    sns.publish(TopicArn=top.topic_arn, Message=envelope.to_json())


def dlq_reasons(sqs, top) -> list[str]:
    return [
        m["MessageAttributes"][DLQ_REASON_ATTRIBUTE]["StringValue"] for m in receive_all(sqs, top.dlq_url)
    ]


def test_sns_wrapped_event_fans_out_with_deterministic_task_ids(sns, sqs, top, redis_url):
    event = user_event(types.USER_CREATED)
    publish(sns, top, event)

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert (outcome.received, outcome.deleted, outcome.dead_lettered) == (1, 1, 0)
    [apply] = queued_tasks(redis_url, "events")
    [warm] = queued_tasks(redis_url, "cache")
    assert apply["id"] == f"{event.event_id}:directory.apply_user_event"
    assert apply["task"] == "directory.apply_user_event"
    assert warm["id"] == f"{event.event_id}:resources.warm"
    assert receive_all(sqs, top.queue_url) == []


def test_raw_delivery_message_is_accepted(sqs, top, redis_url):
    event = user_event(types.USER_UPDATED, version=2)
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=event.to_json())

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert outcome.deleted == 1
    assert [t["id"] for t in queued_tasks(redis_url, "events")] == [
        f"{event.event_id}:directory.apply_user_event"
    ]


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


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("{not json", "bad_json"),
        (json.dumps({"event_type": "user.promoted"}), "unknown_event_type"),
        (json.dumps(user_event().to_dict() | {"schema_version": 7}), "unknown_schema_version"),
        (json.dumps(user_event().to_dict() | {"aggregate_version": "three"}), "schema_violation"),
        ("x" * (220 * 1024), "too_large"),
    ],
)
def test_poison_message_goes_to_the_dlq_with_its_reason(sqs, top, redis_url, body, reason):
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=body)

    outcome = make_bridge(sqs, top, redis_url).poll_once()

    assert (outcome.dead_lettered, outcome.deleted) == (1, 1)
    assert dlq_reasons(sqs, top) == [reason]
    assert receive_all(sqs, top.queue_url) == []
    assert queued_tasks(redis_url, "events") == []


def test_forged_topic_is_refused(sqs, top, redis_url):
    forged = {
        "Type": "Notification",
        "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:999999999999:someone-else",
        "Message": user_event().to_json(),
    }
    sqs.send_message(QueueUrl=top.queue_url, MessageBody=json.dumps(forged))

    make_bridge(sqs, top, redis_url).poll_once()

    assert dlq_reasons(sqs, top) == ["topic_not_allowed"]
    assert queued_tasks(redis_url, "events") == []


def test_good_and_poison_messages_in_one_batch_are_each_handled(sns, sqs, top, redis_url):
    good = user_event(types.USER_UPDATED, version=3)
    publish(sns, top, good)
    sqs.send_message(QueueUrl=top.queue_url, MessageBody="{broken")

    bridge = make_bridge(sqs, top, redis_url)
    for _ in range(3):
        bridge.poll_once()

    assert [t["id"] for t in queued_tasks(redis_url, "events")] == [
        f"{good.event_id}:directory.apply_user_event"
    ]
    assert dlq_reasons(sqs, top) == ["bad_json"]


def test_broker_down_leaves_the_message_for_redelivery(sns, sqs, top, redis_url):
    from devstack.processes import free_port

    event = user_event(types.USER_UPDATED, version=2)
    publish(sns, top, event)
    down = make_bridge(sqs, top, f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(TransientError):
        down.poll_once()
    assert down.stats.snapshot()["deleted"] == 0

    time.sleep(1.2)  # the queue's visibility timeout is 1 s
    up = make_bridge(sqs, top, redis_url)
    outcome = up.poll_once()
    assert outcome.deleted == 1
    assert up.stats.snapshot()["redelivered"] == 1
    assert [t["id"] for t in queued_tasks(redis_url, "events")] == [
        f"{event.event_id}:directory.apply_user_event"
    ]
