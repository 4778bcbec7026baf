"""SIGTERM: run_bridge stops receiving, finishes the batch in hand (publish, delete) and exits 0,
within BRIDGE_STOP_GRACE_SECONDS (2 s) and the interpreter's exit, whatever SQS does.

A real `manage.py users run_bridge` process on the moto server and a Redis of the test's own;
`SqsProxy` in between where SQS must stop answering. The old bridge waited for each loop's long
poll (up to BRIDGE_WAIT_SECONDS) and, with SQS silent, for its read timeout and a retry: with
BRIDGE_WAIT_SECONDS=20 that is 20 to 50 s. The tests allow 12 s, several times the bound.
"""

from __future__ import annotations

import signal
import time

import pytest
import redis

from devstack.processes import free_port, wait_until
from devstack.redis import RedisServer
from events import types
from events.aws import AwsSettings, client
from tests.events.bridge.helpers import APPLY, queue_depth, queued_task_ids, send_notifications
from tests.events.test_envelope import user_event
from tests.users_service.bridge.processes import SqsProxy, bridge_env, start_bridge, topology_for

#: Far below what the old bridge took, far above what this one takes (the machine is shared).
EXIT_WITHIN = 12


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


def stop_and_time(bridge, sig: int = signal.SIGTERM) -> tuple[int, float]:
    started = time.monotonic()
    bridge.signal(sig)
    returncode = bridge.process.wait(EXIT_WITHIN)
    return returncode, time.monotonic() - started


def test_sigterm_mid_batch_finishes_the_batch_and_exits_0(moto_server, own_redis, tmp_path):
    broker = f"{own_redis.url}/0"
    env = bridge_env(
        aws_endpoint=moto_server.url, broker_url=broker, tmp_path=tmp_path, BRIDGE_STOP_GRACE_SECONDS="10"
    )
    top = topology_for(env)
    sqs = client("sqs", AwsSettings.from_env(env))
    bridge = start_bridge(env, tmp_path)
    try:
        # Redis held for 3 s: the batch is certainly in hand (received, not published) at SIGTERM.
        redis.Redis.from_url(broker).execute_command("CLIENT", "PAUSE", "3000")
        events = [user_event(types.USER_UPDATED, version=v) for v in range(1, 6)]
        send_notifications(sqs, top, [e.to_json() for e in events])
        wait_until(lambda: in_flight(sqs, top.queue_url) == 5, timeout=60, what="batch received")

        returncode, _seconds = stop_and_time(bridge)
    finally:
        bridge.stop()

    log = bridge.log_path.read_text()
    assert returncode == 0, log
    assert "finishing the batches in hand" in log
    assert sorted(queued_task_ids(broker)) == sorted(f"{e.event_id}:{APPLY}" for e in events)
    assert queue_depth(sqs, top.queue_url) == 0


def test_sigint_on_an_idle_bridge_exits_0_without_waiting_for_the_long_polls(
    moto_server, own_redis, tmp_path
):
    env = bridge_env(
        aws_endpoint=moto_server.url,
        broker_url=f"{own_redis.url}/0",
        tmp_path=tmp_path,
        BRIDGE_WAIT_SECONDS="20",
    )
    topology_for(env)
    bridge = start_bridge(env, tmp_path, threads=2)
    try:
        time.sleep(0.5)  # both loops are in a 20 s long poll
        returncode, seconds = stop_and_time(bridge, signal.SIGINT)
    finally:
        bridge.stop()
    assert returncode == 0, bridge.log_tail()
    assert "bridge stopped" in bridge.log_path.read_text()
    print(f"idle bridge stopped {seconds:.2f}s after SIGINT")


def test_sigterm_exits_0_promptly_when_sqs_stops_answering(moto_server, own_redis, tmp_path):
    proxy = SqsProxy(moto_server.port)
    env = bridge_env(
        aws_endpoint=proxy.url, broker_url=f"{own_redis.url}/0", tmp_path=tmp_path, BRIDGE_WAIT_SECONDS="20"
    )
    topology_for(env)
    bridge = start_bridge(env, tmp_path, threads=2)
    try:
        proxy.freeze.set()
        time.sleep(0.5)
        returncode, seconds = stop_and_time(bridge)
    finally:
        bridge.stop()
        proxy.close()
    assert returncode == 0, bridge.log_tail()
    print(f"bridge on a silent SQS stopped {seconds:.2f}s after SIGTERM")


def test_sigterm_while_the_delete_hangs_exits_0_and_deletes_nothing_unsent(moto_server, own_redis, tmp_path):
    """SQS stops answering between publish and delete: the bridge gives the batch its grace, then
    leaves it undeleted (SQS redelivers it; the task ids make the second publish harmless)."""
    broker = f"{own_redis.url}/0"
    proxy = SqsProxy(moto_server.port)
    env = bridge_env(aws_endpoint=proxy.url, broker_url=broker, tmp_path=tmp_path)
    top = topology_for(env)
    sqs = client("sqs", AwsSettings.from_env(env | {"AWS_ENDPOINT_URL": moto_server.url}))
    events = [user_event(types.USER_UPDATED, version=v) for v in range(1, 4)]
    proxy.hold_deletes.set()
    bridge = start_bridge(env, tmp_path)
    try:
        send_notifications(sqs, top, [e.to_json() for e in events])
        wait_until(proxy.held.is_set, timeout=60, what="the bridge's delete")
        proxy.freeze.set()
        returncode, seconds = stop_and_time(bridge)
    finally:
        bridge.stop()
        proxy.close()

    log = bridge.log_path.read_text()
    assert returncode == 0, log
    assert "still in hand" in log
    assert sorted(queued_task_ids(broker)) == sorted(f"{e.event_id}:{APPLY}" for e in events)
    assert queue_depth(sqs, top.queue_url) == 3  # published, not deleted: redelivered later
    print(f"bridge with a hung delete stopped {seconds:.2f}s after SIGTERM")


def test_a_queue_of_poison_stops_run_bridge_with_exit_1_and_the_reason(moto_server, own_redis, tmp_path):
    env = bridge_env(
        aws_endpoint=moto_server.url,
        broker_url=f"{own_redis.url}/0",
        tmp_path=tmp_path,
        BRIDGE_POISON_WINDOW="10",
        BRIDGE_POISON_MIN_MESSAGES="5",
    )
    top = topology_for(env)
    sqs = client("sqs", AwsSettings.from_env(env))
    # Bare envelopes, as if the subscription had been switched to raw delivery behind the bridge's back.
    sqs.send_message_batch(
        QueueUrl=top.queue_url,
        Entries=[{"Id": str(v), "MessageBody": user_event(version=v).to_json()} for v in range(1, 11)],
    )
    bridge = start_bridge(env, tmp_path)
    try:
        returncode = bridge.process.wait(60)
    finally:
        bridge.stop()

    log = bridge.log_path.read_text()
    assert returncode == 1, log
    assert "bridge stopped:" in log
    assert "were poison" in log
    assert queue_depth(sqs, top.queue_url) == 10  # none dead-lettered, none lost
    assert queue_depth(sqs, top.dlq_url) == 0
