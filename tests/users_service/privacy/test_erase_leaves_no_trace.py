"""An erased user leaves no trace in the users service: not in its database (every table), not in
Redis (broker, cache and metrics, every key), not in the SQS dead-letter queue, not in its logs.

The person's copies are driven into every store the way production makes them: events through
SNS, the bridge, the Redis broker and a worker's tracer (a retry held unacked as a worker holds a
countdown, a task that fails for good, a poison message dead-lettered), a cached resources body.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Iterator

import pytest
import redis
from celery.app.trace import build_tracer
from django.core.cache import cache
from django.db import OperationalError
from kombu import Queue

from events import types
from events.bridge.dead_letters import DLQ_DETAIL_ATTRIBUTE
from tests.conftest import receive_all
from tests.database_scan import cells_holding
from tests.samples import user_envelope
from users_service import cache_keys
from users_service.bridge.wiring import build_bridge
from users_service.celery import app
from users_service.directory import services
from users_service.directory.models import FailedTask, UserRecord

pytestmark = pytest.mark.django_db(transaction=True)

#: In the person's names and email, and nowhere else.
MARKER = "Wq8erasemarker"


def _decoded(value: bytes) -> Iterator[bytes]:
    """A value as stored, and the task bodies inside kombu's messages (base64 in the broker)."""
    yield value
    try:
        message = json.loads(value)
    except ValueError:
        return
    if isinstance(message, list) and message:  # the unacked hash: [message, exchange, routing_key]
        message = message[0]
    if isinstance(message, dict) and isinstance(message.get("body"), str):
        try:
            yield base64.b64decode(message["body"])
        except ValueError:
            return


def stored_values(client: redis.Redis, key: bytes) -> list[bytes]:
    """What a key holds, read by its type (DUMP's encoding may compress a long value)."""
    kind = client.type(key).decode()
    if kind == "string":
        return [client.get(key) or b""]
    if kind == "list":
        return client.lrange(key, 0, -1)
    if kind == "hash":
        return [part for item in client.hgetall(key).items() for part in item]
    if kind == "set":
        return list(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1)
    return [client.dump(key) or b""]


def redis_keys_holding(url: str, marker: str) -> set[str]:
    """Keys of every database of the Redis at `url` whose name or value holds `marker` (SCAN)."""
    hits = set()
    needle = marker.lower().encode()
    server = redis.Redis.from_url(url)
    for db in server.info("keyspace"):
        client = redis.Redis.from_url(url, db=int(db.removeprefix("db")))
        for key in client.scan_iter(count=500):
            for value in [key, *stored_values(client, key)]:
                if any(needle in text.lower() for text in _decoded(value)):
                    hits.add(f"db{db}:{key.decode(errors='replace')}")
    return hits


class Worker:
    """Takes task messages from the Redis broker and runs them through Celery's worker tracer."""

    def __init__(self) -> None:
        app.loader.import_default_modules()  # the task modules, as a worker loads them
        self.connection = app.connection_for_write()
        self.channel = self.connection.channel()

    def take(self, queue: str):
        message = Queue(queue)(self.channel).get(no_ack=False)
        assert message is not None, f"no task on {queue}"
        return message

    def run(self, message) -> None:
        headers = message.headers
        args, kwargs, embed = message.decode()
        task = app.tasks[headers["task"]]
        tracer = build_tracer(task.name, task, app=app, eager=False, propagate=False)
        request = {
            **headers,
            **(embed or {}),
            "delivery_info": {"routing_key": message.delivery_info["routing_key"]},
            "hostname": "test@host",
        }
        tracer(headers["id"], args, kwargs, request)
        message.ack()

    def work(self, queue: str, count: int = 1) -> None:
        for _ in range(count):
            self.run(self.take(queue))

    def close(self) -> None:
        self.channel.close()
        self.connection.release()


@pytest.fixture
def worker(celery_broker) -> Iterator[Worker]:
    worker = Worker()
    yield worker
    worker.close()


@pytest.fixture
def failing_versions(monkeypatch) -> set[int]:
    """Versions whose apply raises a transient database error while they are in the set."""
    failing: set[int] = set()
    real = services.apply_user_event

    def flaky(*, envelope, task_name):
        if envelope["aggregate_version"] in failing:
            raise OperationalError("server closed the connection unexpectedly")
        return real(envelope=envelope, task_name=task_name)

    monkeypatch.setattr(services, "apply_user_event", flaky)
    return failing


def event(user_id: str, version: int, event_type: str = types.USER_UPDATED, **fields) -> str:
    return user_envelope(event_type, user_id=user_id, version=version, **fields).validate().to_json()


def test_an_erased_user_leaves_no_trace(
    sns, sqs, topology, worker, failing_versions, redis_url, settings, caplog
):
    caplog.set_level(logging.DEBUG)
    settings.CELERY_TASK_MAX_RETRIES = 1
    user_id = str(uuid.uuid4())
    person = {"email": f"ada.{MARKER}@example.com", "first_name": f"Ada{MARKER}", "last_name": f"L{MARKER}"}
    bridge = build_bridge()

    def through_the_bridge(message: str) -> None:
        sns.publish(TopicArn=topology.topic_arn, Message=message)
        bridge.poll_once()

    # v1 applied: the read model holds the person.
    through_the_bridge(event(user_id, 1, **person))
    worker.work("events")
    worker.work("cache")  # resources.invalidate
    assert UserRecord.objects.get(pk=user_id).first_name == person["first_name"]

    # v2 fails on a transient error: its retry is held by a worker, unacked, while it waits.
    failing_versions.add(2)
    through_the_bridge(event(user_id, 2, **person))
    worker.work("events")
    worker.work("cache")
    held_retry = worker.take("events")

    # v3 fails for good (its retries spent): a FailedTask row and a FAILURE result.
    failing_versions.add(3)
    through_the_bridge(event(user_id, 3, **person))
    worker.work("events", count=2)
    worker.work("cache")
    assert FailedTask.objects.get(task_id__endswith="directory.apply_user_event").args[0]["payload"]

    # A message about the person that breaks the contract is dead-lettered by the bridge;
    # another person's poison message stays in the DLQ.
    broken = json.loads(event(user_id, 4, **person))
    broken["payload"]["nickname"] = MARKER
    through_the_bridge(json.dumps(broken))
    other = json.loads(event(str(uuid.uuid4()), 1))
    other["payload"]["nickname"] = "someone else"
    through_the_bridge(json.dumps(other))

    # The cached resources of the person, and a fill in progress.
    key = cache_keys.resources(user_id)
    cache.set(key, json.dumps({"owner": person["email"]}).encode())
    cache.set(cache_keys.fill_lock(key), MARKER)

    # Before the erase, each store holds the marker: the scans below can see it.
    assert cells_holding(MARKER)
    assert redis_keys_holding(redis_url, MARKER)
    assert MARKER in json.dumps(receive_all_kept(sqs, topology.dlq_url))

    # The erase, as production runs it: apply, invalidate, forget (the read model's stores and
    # the bridge's hand-off records).
    failing_versions.clear()
    through_the_bridge(event(user_id, 5, types.USER_ERASED))
    worker.work("events", count=3)
    worker.work("cache")
    # The held retry runs after the erase: the tombstone refuses it.
    worker.run(held_retry)

    record = UserRecord.objects.get(pk=user_id)
    assert (record.erased, record.version, record.first_name, record.email) == (True, 5, "", "")
    assert cells_holding(MARKER) == set()
    assert redis_keys_holding(redis_url, MARKER) == set()
    left = receive_all(sqs, topology.dlq_url)
    assert [json.loads(json.loads(m["Body"])["Message"])["payload"]["nickname"] for m in left] == [
        "someone else"
    ]
    assert all(MARKER not in m["MessageAttributes"][DLQ_DETAIL_ATTRIBUTE]["StringValue"] for m in left)
    logged = [record.getMessage() + (caplog.text if record.exc_info else "") for record in caplog.records]
    assert [line for line in logged if MARKER.lower() in line.lower()] == []
    assert MARKER.lower() not in caplog.text.lower()
    # Still there, still usable: the failed task keeps its ids and versions.
    failed = FailedTask.objects.get(task_id__endswith="directory.apply_user_event")
    assert (failed.args[0]["aggregate_id"], failed.args[0]["aggregate_version"]) == (user_id, 3)


def receive_all_kept(sqs, queue_url: str) -> list[dict]:
    """Every message body of a queue, left in the queue (visible again at once)."""
    messages = sqs.receive_message(
        QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=0
    ).get("Messages", [])
    return [message["Body"] for message in messages]
