"""Fill the DLQ the way production does: the bridge dead-letters real poison messages."""

from __future__ import annotations

import json

import pytest

from events import types
from events.topology import Topology
from tests.events.bridge.helpers import make_bridge
from tests.events.test_envelope import user_event
from tests.samples import sns_notification


@pytest.fixture
def dead_letters(sqs, topology: Topology, redis_url) -> dict[str, str]:
    """Three dead letters, each an SNS notification of the topic: reason -> the SQS body refused."""
    messages = {
        "bad_json": "{not json",
        "unknown_schema_version": json.dumps(
            user_event(types.USER_UPDATED).to_dict() | {"schema_version": 9}
        ),
        "unroutable": user_event(types.USER_DEACTIVATED).to_json(),
    }
    bodies = {reason: sns_notification(topology.topic_arn, m) for reason, m in messages.items()}
    for body in bodies.values():
        sqs.send_message(QueueUrl=topology.queue_url, MessageBody=body)
    bridge = make_bridge(sqs, topology, redis_url)
    while bridge.poll_once().received:
        pass
    assert sum(bridge.stats.snapshot()["dead_lettered"].values()) == 3
    return bodies
