"""kill -9 between publish and delete: the messages come back, are published again, and applied once.

A real run_bridge process talks to the moto server through `SqsProxy`, which
holds its `DeleteMessageBatch`: Redis has accepted the tasks, SQS still has the
messages. The bridge is killed with SIGKILL there. After the visibility timeout a
new bridge receives the same messages and publishes them again with the same
task ids; the users service's apply service (the task body) applies each event
once and records the repeats as duplicates in its inbox.
"""

from __future__ import annotations

import base64
import json
import signal
from collections import Counter

import pytest
import redis

from devstack.processes import free_port, wait_until
from devstack.redis import RedisServer
from events import types
from events.aws import AwsSettings, client
from tests.events.bridge.helpers import APPLY, queue_depth, queued_task_ids
from tests.samples import sns_notification
from tests.users_service.bridge.processes import SqsProxy, bridge_env, start_bridge, topology_for
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory import services
from users_service.directory.models import InboxEntry, UserRecord


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(free_port(), tmp_path / "redis").start()
    yield server
    server.stop()


def drain_tasks(broker_url: str, queue: str = "events") -> list[tuple[str, dict]]:
    """Pop every task message a worker would get: (task name, envelope argument)."""
    connection = redis.Redis.from_url(broker_url)
    tasks = []
    while raw := connection.rpop(queue):
        message = json.loads(raw)
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        tasks.append((message["headers"]["task"], args[0]))
    return tasks


def test_bridge_killed_between_publish_and_delete_is_harmless(moto_server, own_redis, tmp_path, db):
    broker = f"{own_redis.url}/0"
    proxy = SqsProxy(moto_server.port)
    env = bridge_env(
        aws_endpoint=proxy.url, broker_url=broker, tmp_path=tmp_path, EVENTS_VISIBILITY_TIMEOUT="2"
    )
    top = topology_for(env)
    sqs = client("sqs", AwsSettings.from_env(env | {"AWS_ENDPOINT_URL": moto_server.url}))
    user_id = new_user_id()
    events = [user_state_event(user_id, version, types.USER_UPDATED) for version in (1, 2, 3)]
    for event in events:  # all queued before the bridge starts: they arrive as one batch
        sqs.send_message(
            QueueUrl=top.queue_url, MessageBody=sns_notification(top.topic_arn, json.dumps(event))
        )

    # Hold deletes before the bridge starts: it may receive and delete its first batch at once.
    proxy.hold_deletes.set()
    first = start_bridge(env, tmp_path, name="bridge-1")
    try:
        wait_until(proxy.held.is_set, timeout=60, what="the bridge's delete")
        assert len(queued_task_ids(broker)) == 3  # Redis accepted every task of the batch
        first.signal(signal.SIGKILL)
        first.process.wait(5)
    finally:
        first.stop()
        proxy.close()
    assert queue_depth(sqs, top.queue_url) == 3  # nothing was deleted

    second = start_bridge(env | {"AWS_ENDPOINT_URL": moto_server.url}, tmp_path, name="bridge-2")
    try:
        wait_until(lambda: queue_depth(sqs, top.queue_url) == 0, timeout=60, what="redelivery and delete")
    finally:
        second.stop()

    task_ids = Counter(queued_task_ids(broker))
    assert task_ids == Counter({f"{e['event_id']}:{APPLY}": 2 for e in events})  # same ids, twice each

    outcomes = Counter(
        services.apply_user_event(envelope=envelope, task_name=task).value
        for task, envelope in drain_tasks(broker)
    )
    assert outcomes == {"applied": 3, "duplicate": 3}
    assert UserRecord.objects.get(pk=user_id).version == 3
    assert InboxEntry.objects.filter(aggregate_id=user_id).count() == 3
