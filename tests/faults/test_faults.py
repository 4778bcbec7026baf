"""Faults on real processes; after each, every monolith user equals its read-model row and every event
was applied exactly once (`FaultStack.wait_converged`). The scenarios share one stack and run in order."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import sys
from pathlib import Path

import redis

from bench._events import user_envelope
from devstack.faults import APPLY_TASK, EVENTS_UNACKED_KEY, PROCESS_COMMANDS, FaultStack
from devstack.processes import wait_until
from devstack.stack import manage
from events import types
from events.aws import AwsSettings, client
from shared_settings.sqlite import USERS_SQLITE
from tests.broker import holds_task


def _sqs(stack: FaultStack):
    return client("sqs", AwsSettings.from_env(stack.env))


def _notification(topic_arn: str, message: str) -> str:
    """The body SNS delivers to a subscribed queue (no raw delivery)."""
    return json.dumps({"Type": "Notification", "MessageId": "m", "TopicArn": topic_arn, "Message": message})


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_baseline_events_flow_and_converge(stack: FaultStack) -> None:
    stack.create_users(5, tag="baseline")
    state = stack.wait_converged(timeout=60)
    assert state.users == 5


def test_bridge_killed_while_a_burst_drains_loses_and_doubles_nothing(stack: FaultStack) -> None:
    before = stack.applied_count()
    stack.create_users(40, tag="bridge-kill")
    # Kill while the burst is part way: some events applied, others received or still queued.
    wait_until(lambda: stack.applied_count() > before + 3, timeout=60, what="the burst started")
    stack.restart("bridge")
    state = stack.wait_converged(timeout=60)
    assert state.users == 45


def test_bridge_killed_between_publish_and_delete_applies_each_event_once(stack: FaultStack) -> None:
    """The bridge publishes a batch's tasks, records its hand-off in the users database, then deletes
    the SQS messages. With that database's write lock held, the bridge stops after the publish, before
    the delete: killed there, its messages come back and are published again under the same task ids."""
    lock = sqlite3.connect(stack.workdir / USERS_SQLITE, isolation_level=None, timeout=20)
    lock.execute("BEGIN IMMEDIATE")
    try:
        ids = stack.create_users(5, tag="publish-delete")
        task_ids = [
            f"{event_id}:{APPLY_TASK}" for user_id in ids for event_id in stack.outbox_events_of(user_id)
        ]
        broker = redis.Redis.from_url(stack.broker.database_url(0))
        wait_until(
            lambda: holds_task(broker, EVENTS_UNACKED_KEY, task_ids[0]),
            timeout=30,
            what="the first task published and reserved by the worker",
        )
        stack.kill("bridge")
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    stack.start("bridge")
    stack.wait_converged(timeout=60)
    # The read model may converge on the first copies before SQS hands the undeleted messages out
    # again (after their visibility timeout): wait for the redelivered copy to be found a duplicate.
    wait_until(
        lambda: stack.worker_outcomes()[(task_ids[0], "duplicate")] >= 1,
        timeout=90,
        what="the redelivered message published again and found a duplicate",
        interval=0.5,
    )
    assert stack.worker_outcomes()[(task_ids[0], "applied")] == 1


def test_events_worker_killed_mid_task_applies_the_event_once(stack: FaultStack) -> None:
    worker = stack.processes["worker-events"]
    # Hold the users database's write lock: the worker's apply waits on it, mid-task, unacked.
    lock = sqlite3.connect(stack.workdir / USERS_SQLITE, isolation_level=None, timeout=20)
    lock.execute("BEGIN IMMEDIATE")
    try:
        [user_id] = stack.create_users(1, tag="worker-kill")
        [event_id] = stack.outbox_events_of(user_id)
        broker = redis.Redis.from_url(stack.broker.database_url(0))
        held = f"{event_id}:{APPLY_TASK}"
        wait_until(lambda: holds_task(broker, EVENTS_UNACKED_KEY, held), timeout=30, what=f"{held} reserved")
        # kill -9 of the pool's processes: one of them is inside the task (a child that runs out of
        # memory dies the same way); the worker's main process stays and forks new ones.
        for child in _children(worker.process.pid):
            os.kill(child, signal.SIGKILL)
    finally:
        lock.execute("ROLLBACK")
        lock.close()
    state = stack.wait_converged(timeout=60)
    assert user_id not in state.differing
    assert "SIGKILL" in worker.log_path.read_text(errors="replace")


def _envelopes(stack: FaultStack, user_id: str) -> list[dict]:
    """One user's envelopes from the outbox, oldest first (SQLite returns the JSON as text)."""
    rows = stack.hr_db.rows(
        f"SELECT envelope FROM outbox_outboxevent WHERE aggregate_id = '{user_id}' ORDER BY id"
    )
    return [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]


def _inbox_outcomes(stack: FaultStack, user_id: str) -> dict[int, str]:
    rows = stack.users_db.rows(
        "SELECT aggregate_version, outcome FROM directory_inboxentry "
        f"WHERE aggregate_id = '{user_id}' AND task_name = '{APPLY_TASK}'"
    )
    return dict(rows)


def test_duplicated_and_reordered_deliveries_apply_the_newest_version_once(stack: FaultStack) -> None:
    stack.processes["relay"].stop()
    [user_id] = stack.create_users(1, tag="reorder")
    stack.update_users([user_id], first_name="Second")
    stack.update_users([user_id], first_name="Third")
    v1, v2, v3 = _envelopes(stack, user_id)
    sns, sqs = client("sns", AwsSettings.from_env(stack.env)), _sqs(stack)
    # The newest first, the same notification twice (an SQS redelivery); then the older ones, each
    # published twice (a relay that published and crashed before marking the row sent).
    notification = _notification(stack.topology.topic_arn, json.dumps(v3))
    for _ in range(2):
        sqs.send_message(QueueUrl=stack.topology.queue_url, MessageBody=notification)
    wait_until(lambda: 3 in _inbox_outcomes(stack, user_id), timeout=30, what="v3 applied")
    for envelope in (v2, v1, v2, v1):
        sns.publish(TopicArn=stack.topology.topic_arn, Message=json.dumps(envelope))
    # And the relay publishes all three again, in order.
    stack.start("relay")
    stack.wait_converged(timeout=60)
    assert _inbox_outcomes(stack, user_id) == {1: "stale", 2: "stale", 3: "applied"}


def test_poison_mixed_into_traffic_is_dead_lettered_and_the_rest_applied(stack: FaultStack) -> None:
    sqs, topic = _sqs(stack), stack.topology.topic_arn
    unknown = user_envelope(types.USER_CREATED).to_dict() | {"event_type": "user.promoted"}
    invalid = user_envelope(types.USER_CREATED).to_dict()
    del invalid["payload"]["email"]
    poison = [
        "not json at all",
        _notification(topic, "{truncated"),
        _notification(topic, json.dumps(unknown)),
        _notification(topic, json.dumps(invalid)),
        _notification("arn:aws:sns:us-east-1:123456789012:forged", json.dumps(user_envelope().to_dict())),
    ]
    for body in poison[:2]:
        sqs.send_message(QueueUrl=stack.topology.queue_url, MessageBody=body)
    stack.create_users(10, tag="poison")
    for body in poison[2:]:
        sqs.send_message(QueueUrl=stack.topology.queue_url, MessageBody=body)
    stack.create_users(5, tag="poison-after")
    stack.wait_converged(timeout=60)

    def dead_lettered() -> int:
        attributes = sqs.get_queue_attributes(
            QueueUrl=stack.topology.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )
        return int(attributes["Attributes"]["ApproximateNumberOfMessages"])

    wait_until(lambda: dead_lettered() >= len(poison), timeout=30, what="poison in the DLQ")
    assert dead_lettered() == len(poison)
    assert stack.processes["bridge"].running


def test_emulator_down_during_relay_and_bridge_then_back(stack: FaultStack) -> None:
    stack.stop_emulator()
    # The relay cannot publish these and the bridge cannot receive; both keep retrying.
    ids = stack.create_users(5, tag="emulator-down")
    wait_until(
        lambda: "SNS refused" in stack.processes["relay"].log_path.read_text(errors="replace"),
        timeout=30,
        what="the relay's failed publish",
    )
    stack.start_emulator()
    state = stack.wait_converged(timeout=90)
    assert not set(ids) & set(state.differing)
    assert stack.processes["relay"].running
    assert stack.processes["bridge"].running


def test_cache_redis_frozen_does_not_stall_event_applies(stack: FaultStack) -> None:
    stack.start("worker-cache")
    stack.cache.signal(signal.SIGSTOP)
    try:
        ids = stack.create_users(5, tag="cache-frozen")
        stack.update_users(ids, first_name="Changed")
        # Applied while the cache is frozen: the read model does not wait on it.
        stack.wait_converged(timeout=60)
    finally:
        stack.cache.signal(signal.SIGCONT)
    stack.processes["worker-cache"].stop()


BEAT = [str(Path(sys.executable).parent / "celery"), "-A", "users_service", "beat", "--loglevel", "INFO"]
TICK = "faults-tick"


def _beat_log(stack: FaultStack, name: str) -> str:
    return stack.processes[name].log_path.read_text(errors="replace")


def _sent_ticks(stack: FaultStack, name: str) -> int:
    return _beat_log(stack, name).count(f"Sending due task {TICK}")


def test_two_beats_at_once_only_one_schedules_and_the_other_takes_over(stack: FaultStack) -> None:
    # A periodic task due every second, on a queue nobody consumes here: each send is one message.
    manage(
        "users",
        "shell",
        "-c",
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask\n"
        "every, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.SECONDS)\n"
        f"PeriodicTask.objects.update_or_create(name={TICK!r}, defaults=dict(interval=every, "
        "task='celery.backend_cleanup', queue='reports', enabled=True))",
        env=stack.env,
    )
    for name in ("beat-1", "beat-2"):
        stack.start(name, BEAT)
    wait_until(
        lambda: any("acquired" in _beat_log(stack, name) for name in ("beat-1", "beat-2")),
        timeout=60,
        what="a beat holding the lock",
    )
    holder, standby = (
        ("beat-1", "beat-2") if "acquired" in _beat_log(stack, "beat-1") else ("beat-2", "beat-1")
    )
    wait_until(lambda: "standing by" in _beat_log(stack, standby), timeout=60, what="the other standing by")
    wait_until(lambda: _sent_ticks(stack, holder) >= 3, timeout=30, what="three ticks sent")
    assert _sent_ticks(stack, standby) == 0
    broker = redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])
    # Frozen, the holder sends nothing more; every message on the queue is one it logged (beat logs a
    # send just before it publishes), none from the standby.
    stack.processes[holder].signal(signal.SIGSTOP)
    assert broker.llen("reports") <= _sent_ticks(stack, holder)
    assert _sent_ticks(stack, standby) == 0

    stack.kill(holder)
    wait_until(lambda: "acquired" in _beat_log(stack, standby), timeout=30, what="the standby taking over")
    wait_until(lambda: _sent_ticks(stack, standby) >= 2, timeout=30, what="the new holder's ticks")
    stack.processes[standby].stop()
    broker.delete("reports")


def test_broker_restarted_without_persistence_loses_no_queued_event(stack: FaultStack) -> None:
    """Tasks the bridge handed to Redis (the SQS messages deleted) and no worker took yet vanish with a
    broker that keeps nothing on disk; the bridge's hand-off records (users database) publish them
    again after HANDOFF_GRACE_SECONDS (2 s here) under the same task ids."""
    stack.processes["worker-events"].stop()
    broker = redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])
    before = broker.llen("events")
    ids = stack.create_users(10, tag="broker-restart")
    wait_until(lambda: broker.llen("events") >= before + 10, timeout=60, what="ten tasks in the broker")
    stack.broker.stop()
    stack.broker.start()
    assert broker.llen("events") == 0
    stack.start("worker-events")
    # The sweeper's backoff between re-publishes of one event grew while no worker ran.
    state = stack.wait_converged(timeout=60)
    assert not set(ids) & set(state.differing)


BROKER_LOST = "Connection to broker lost"


def _restart_broker_with_a_task_in_hand(stack: FaultStack, tag: str) -> None:
    """The events worker holds one task unacked (received, its pool's processes frozen so that none
    starts it) and waits in BRPOP for the next: then the broker restarts empty."""
    worker = stack.processes["worker-events"]
    broker = redis.Redis.from_url(stack.env["CELERY_BROKER_URL"])
    assert "Unrecoverable error" not in worker.log_path.read_text(errors="replace")
    assert worker.running, worker.log_tail()
    # Nothing in hand yet: a task already reserved would stay so in the frozen pool.
    stack.wait_converged(timeout=150)
    children = _children(worker.process.pid)
    for child in children:
        os.kill(child, signal.SIGSTOP)
    try:
        [user_id] = stack.create_users(1, tag=tag)
        [event_id] = stack.outbox_events_of(user_id)
        task_id = f"{event_id}:{APPLY_TASK}"
        held = lambda: holds_task(broker, EVENTS_UNACKED_KEY, task_id)  # noqa: E731
        wait_until(held, timeout=60, what=f"{task_id} reserved")
        in_brpop = lambda: broker.info("clients")["blocked_clients"] >= 1  # noqa: E731
        wait_until(in_brpop, timeout=30, what="the worker waiting in BRPOP")
        lost = worker.log_path.read_text(errors="replace").count(BROKER_LOST)
        stack.broker.stop()
        stack.broker.start()
        noticed = lambda: worker.log_path.read_text(errors="replace").count(BROKER_LOST) > lost  # noqa: E731
        wait_until(noticed, timeout=30, what="the worker noticing the lost broker")
    finally:
        for child in children:
            # One frozen with a task in hand past the role's time limit was killed by the worker.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGCONT)


def test_broker_restarted_under_load_keeps_the_events_worker_running(stack: FaultStack) -> None:
    """A worker that loses the broker while it holds an unacked task and waits in BRPOP for the next
    used to exit ("Unrecoverable error: AttributeError: 'NoneType' object has no attribute
    'hostname'", users_service/worker_consumer.py). Three broker restarts, each with a task in hand
    and more users after it: the same worker process must apply every event, once."""
    # Four pool processes: with one task in hand, the worker still has room for more and waits in
    # BRPOP (with its two, the hand-off's re-publishes of the frozen task could fill both).
    stack.kill("worker-events")
    worker = stack.start("worker-events", [*PROCESS_COMMANDS["worker-events"], "--concurrency", "4"])
    stack.worker_ready()
    for round_ in range(3):
        _restart_broker_with_a_task_in_hand(stack, tag=f"broker-loss-{round_}")
        assert worker.running, worker.log_tail()
        stack.create_users(5, tag=f"broker-loss-{round_}-after")
    stack.wait_converged(timeout=150)
    assert "Unrecoverable error" not in worker.log_path.read_text(errors="replace")
    assert worker.running
    assert stack.processes["worker-events"] is worker
