"""The bridge looks the topology up and never creates or changes it: on AWS its role may receive,
delete, change visibility and dead-letter, nothing more (docs/aws.md)."""

from __future__ import annotations

import pytest

from events.topology import TopologyMissing
from users_service.bridge.wiring import build_bridge


def test_bridge_finds_a_provisioned_topology(sns, sqs, topology):
    bridge = build_bridge()
    assert (bridge.queue_url, bridge.dlq_url) == (topology.queue_url, topology.dlq_url)


def test_bridge_refuses_to_create_the_topology(sns, sqs):
    with pytest.raises(TopologyMissing, match="users-service-events"):
        build_bridge()
    assert sns.list_topics()["Topics"] == []
    assert sqs.list_queues().get("QueueUrls", []) == []
