"""Broker down: nothing is deleted, the message comes back, and it is published once Redis returns.

The publisher fails fast (no kombu connection retry, no redis-py retry) and still
pipelines its batches: kombu silently falls back to one-by-one when retries are
configured through transport options, so that is checked too.
"""

from __future__ import annotations

import time

import pytest

from devstack.processes import free_port
from devstack.redis import RedisServer
from events import types
from events.celery_publisher import CeleryTaskPublisher
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


def test_redis_stopped_during_publish_leaves_the_message_until_redis_returns(
    sns, sqs, top, own_redis, tmp_path
):
    broker = f"{own_redis.url}/0"
    bridge = make_bridge(sqs, top, broker)
    warm_up = user_event(types.USER_UPDATED, version=1)
    publish(sns, top, warm_up)
    assert bridge.poll_once().deleted == 1  # the loop's connection to Redis is established

    own_redis.stop()
    event = user_event(types.USER_UPDATED, version=2)
    publish(sns, top, event)
    with pytest.raises(TransientError):
        bridge.poll_once()
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


def test_broker_never_reached_raises_transient_and_deletes_nothing(sns, sqs, top):
    publish(sns, top, user_event(types.USER_UPDATED, version=2))
    down = make_bridge(sqs, top, f"redis://127.0.0.1:{free_port()}/0")

    with pytest.raises(TransientError):
        down.poll_once()

    assert down.stats.snapshot()["deleted"] == 0
    assert queue_depth(sqs, top.queue_url) == 1
