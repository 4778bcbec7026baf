"""Broker down: nothing is deleted, the message comes back, and it is published once Redis returns.

The publisher fails fast (no kombu connection retry, no redis-py retry) and still
pipelines its batches: kombu silently falls back to one-by-one when retries are
configured through transport options, so that is checked too.
"""

from __future__ import annotations

import threading
import time

import pytest
import redis

from devstack.processes import free_port, wait_until
from devstack.redis import RedisServer
from events import types
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.bridge.routing import TaskMessage
from events.errors import TransientError
from tests.events.bridge.helpers import APPLY, celery_app, make_bridge, publish, queue_depth, queued_task_ids
from tests.events.test_envelope import user_event


@pytest.fixture
def own_redis(tmp_path):
    """A Redis of this test alone, so that the test can stop and restart it."""
    server = RedisServer(free_port(), tmp_path / "redis").start()
    yield server
    server.stop()


def test_publisher_pipelines_and_does_not_retry(redis_url):
    publisher = CeleryTaskPublisher(celery_app(redis_url))

    assert publisher.batch_publishing() is True
    assert publisher.connection().transport_options["max_retries"] == 0
    # redis-py retries only when the pool is given a retry policy; kombu's pool gets none.
    assert publisher.producer().channel.client.connection_pool.connection_kwargs.get("retry") is None


def test_a_loops_batches_share_one_redis_client(redis_url, monkeypatch):
    # kombu would build a redis-py client per batch: an eighth of the publish's CPU.
    publisher = CeleryTaskPublisher(celery_app(redis_url))
    tasks = [_task(version) for version in (1, 2, 3, 4)]
    publisher.publish(tasks[:1])
    built: list[redis.Redis] = []
    plain_init = redis.Redis.__init__

    def counting_init(self: redis.Redis, *args: object, **kwargs: object) -> None:
        built.append(self)
        plain_init(self, *args, **kwargs)

    monkeypatch.setattr(redis.Redis, "__init__", counting_init)
    publisher.publish(tasks[1:2])
    publisher.publish(tasks[2:])
    publisher.close()

    assert built == []
    assert sorted(queued_task_ids(redis_url)) == sorted(task.task_id for task in tasks)


def test_a_loops_client_follows_the_pool_its_channel_replaces(own_redis):
    # A channel replaces its pool after a fork, and a closed channel's restore builds a new one;
    # a client kept on the old pool would publish through connections nobody closes.
    broker = f"{own_redis.url}/0"
    publisher = CeleryTaskPublisher(celery_app(broker))
    publisher.publish([_task(1)])
    publisher.producer().channel._disconnect_pools()
    publisher.publish([_task(2)])
    publisher.close()

    server = redis.Redis.from_url(broker)
    assert [int(client["id"]) for client in server.client_list()] == [server.client_id()]
    assert len(queued_task_ids(broker)) == 2


def _task(version: int) -> TaskMessage:
    envelope = user_event(types.USER_UPDATED, version=version)
    return TaskMessage(f"{envelope.event_id}:{APPLY}", APPLY, "events", envelope.to_dict())


def test_redis_stopped_during_publish_leaves_the_message_until_redis_returns(
    sns, sqs, top, own_redis, tmp_path
):
    broker = f"{own_redis.url}/0"
    bridge = make_bridge(sqs, top, broker)
    warm_up = user_event(types.USER_UPDATED, version=1)
    publish(sns, top, warm_up)
    assert bridge.poll_once().deleted == 1  # the loop's connection to Redis is established

    # Hold Redis so that the next publish is in flight when Redis goes away.
    redis.Redis.from_url(broker).execute_command("CLIENT", "PAUSE", "10000")
    event = user_event(types.USER_UPDATED, version=2)
    publish(sns, top, event)
    failures: list[BaseException] = []
    batch = threading.Thread(target=lambda: _poll_expecting_failure(bridge, failures))
    batch.start()
    wait_until(lambda: bridge.stats.snapshot()["received"] == 2, timeout=30, what="second batch received")
    own_redis.stop()
    batch.join(15)

    assert [type(f) for f in failures] == [TransientError]
    snapshot = bridge.stats.snapshot()
    assert (snapshot["deleted"], snapshot["left_for_redelivery"]) == (1, 1)
    assert queue_depth(sqs, top.queue_url) == 1

    restarted = RedisServer(own_redis.port, tmp_path / "redis2").start()
    try:
        deadline = time.monotonic() + 10
        while bridge.stats.snapshot()["deleted"] < 2 and time.monotonic() < deadline:
            bridge.poll_once()  # the message is back after its (shortened) visibility
            time.sleep(0.2)
        assert queued_task_ids(broker) == [f"{event.event_id}:{APPLY}"]
        assert bridge.stats.snapshot()["redelivered"] == 1
        assert queue_depth(sqs, top.queue_url) == 0
    finally:
        restarted.stop()


def _poll_expecting_failure(bridge, failures: list[BaseException]) -> None:
    try:
        bridge.poll_once()
    except TransientError as exc:
        failures.append(exc)


def test_broker_never_reached_raises_transient_and_deletes_nothing(sns, sqs, top):
    publish(sns, top, user_event(types.USER_UPDATED, version=2))
    down = make_bridge(sqs, top, f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(TransientError):
        down.poll_once()

    assert down.stats.snapshot()["deleted"] == 0
    assert queue_depth(sqs, top.queue_url) == 1
