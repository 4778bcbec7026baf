"""The poison limit: a few bad messages are dead-lettered; when most recent messages are poison the
bridge stops with a clear error and leaves the batch that tripped it in SQS (not in the DLQ)."""

from __future__ import annotations

import threading

import pytest

from events import types
from events.bridge.poison_limit import BridgeBroken, PoisonLimit
from tests.events.bridge.helpers import make_bridge, publish, queue_depth, send_notifications
from tests.events.test_envelope import user_event


def test_limit_needs_the_minimum_window_before_it_trips():
    limit = PoisonLimit(window=10, min_messages=5, max_ratio=0.5)
    limit.admit([True, True, True, True])  # 4 of 4 poison, but fewer than 5 seen

    with pytest.raises(BridgeBroken, match="5 of the last 5 messages were poison"):
        limit.admit([True])


def test_limit_slides_good_messages_dilute_old_poison():
    limit = PoisonLimit(window=10, min_messages=5, max_ratio=0.5)
    limit.admit([True] * 3 + [False] * 7)  # 30 %
    limit.admit([False] * 5)  # the three poison have slid out: 0 of 10
    limit.admit([True] * 5)  # 5 of 10: not more than half

    with pytest.raises(BridgeBroken):
        limit.admit([True])  # 6 of 10


def test_once_tripped_every_batch_is_refused_even_a_good_one():
    limit = PoisonLimit(window=4, min_messages=2, max_ratio=0.5)
    with pytest.raises(BridgeBroken):
        limit.admit([True, True])
    with pytest.raises(BridgeBroken):
        limit.admit([False])


def test_a_ratio_of_one_never_trips():
    limit = PoisonLimit(window=4, min_messages=1, max_ratio=1.0)
    for _ in range(10):
        limit.admit([True] * 4)


def test_limit_settings_are_checked():
    with pytest.raises(ValueError, match="min_messages"):
        PoisonLimit(window=5, min_messages=6)


def test_a_few_poison_messages_on_an_idle_queue_are_dead_lettered(sns, sqs, top, redis_url):
    for _ in range(3):
        publish(sns, top, "{broken")
    bridge = make_bridge(sqs, top, redis_url, poison_limit=PoisonLimit(window=100, min_messages=20))

    while bridge.poll_once().received:
        pass

    assert bridge.stats.snapshot()["dead_lettered"] == {"bad_json": 3}
    assert queue_depth(sqs, top.queue_url) == 0


def test_a_queue_of_poison_stops_the_bridge_and_the_tripping_batch_stays_in_sqs(sqs, top, redis_url):
    """The allow-list is wrong (a deploy mistake): every message looks forged."""
    send_notifications(sqs, top, [user_event(types.USER_UPDATED, version=v).to_json() for v in range(1, 31)])
    bridge = make_bridge(
        sqs,
        top,
        redis_url,
        allowed_topic_arns=["arn:aws:sns:us-east-1:123456789012:another-topic"],
        poison_limit=PoisonLimit(window=50, min_messages=15, max_ratio=0.5),
        max_messages=10,
    )
    stop = threading.Event()

    with pytest.raises(BridgeBroken, match="poison"):
        bridge.run(stop, threads=1)

    dead = sum(bridge.stats.snapshot()["dead_lettered"].values())
    assert dead == 10  # the first batch; the second one trips the limit (20 seen, all poison)
    assert queue_depth(sqs, top.queue_url) == 30 - dead  # the tripping batch was left in SQS
    assert stop.is_set()
