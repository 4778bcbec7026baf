"""SIGTERM: run_bridge stops receiving, finishes the batch in hand (publish, delete) and exits 0.

A real `manage.py users run_bridge` process on the moto server and a Redis of the
test's own. `CLIENT PAUSE` holds Redis for 3 s so that the batch is certainly in
hand (received, not yet published) when SIGTERM arrives.
"""

from __future__ import annotations

import signal

import pytest
import redis

from devstack.processes import free_port, wait_until
from devstack.redis import RedisServer
from events import types
from events.aws import AwsSettings, client
from tests.events.bridge.helpers import APPLY, queue_depth, queued_task_ids, send_notifications
from tests.events.test_envelope import user_event
from tests.users_service.bridge.processes import bridge_env, start_bridge, topology_for


@pytest.fixture
def own_redis(tmp_path):
    server = RedisServer(free_port(), tmp_path / "redis").start()
    yield server
    server.stop()


def in_flight(sqs, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


def test_sigterm_mid_batch_finishes_the_batch_and_exits_0(moto_server, own_redis, tmp_path):
    broker = f"{own_redis.url}/0"
    env = bridge_env(aws_endpoint=moto_server.url, broker_url=broker, tmp_path=tmp_path)
    top = topology_for(env)
    sqs = client("sqs", AwsSettings.from_env(env))
    bridge = start_bridge(env, tmp_path)
    try:
        redis.Redis.from_url(broker).execute_command("CLIENT", "PAUSE", "3000")
        events = [user_event(types.USER_UPDATED, version=v) for v in range(1, 6)]
        send_notifications(sqs, top, [e.to_json() for e in events])
        wait_until(lambda: in_flight(sqs, top.queue_url) == 5, timeout=60, what="batch received")

        bridge.signal(signal.SIGTERM)
        returncode = bridge.process.wait(20)
    finally:
        bridge.stop()

    log = bridge.log_path.read_text()
    assert returncode == 0, log
    assert "finishing the batches in hand" in log
    assert sorted(queued_task_ids(broker)) == sorted(f"{e.event_id}:{APPLY}" for e in events)
    assert queue_depth(sqs, top.queue_url) == 0


def test_sigint_on_an_idle_bridge_exits_0_promptly(moto_server, own_redis, tmp_path):
    env = bridge_env(aws_endpoint=moto_server.url, broker_url=f"{own_redis.url}/0", tmp_path=tmp_path)
    topology_for(env)
    bridge = start_bridge(env, tmp_path, threads=2)
    try:
        bridge.signal(signal.SIGINT)
        # BRIDGE_WAIT_SECONDS=1 bounds the long poll each loop may be in.
        returncode = bridge.process.wait(15)
    finally:
        bridge.stop()
    assert returncode == 0, bridge.log_tail()
    assert "bridge stopped" in bridge.log_path.read_text()
