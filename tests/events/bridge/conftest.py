from __future__ import annotations

import pytest

from events.topology import TopologyNames, ensure_topology


@pytest.fixture
def top(sns, sqs):
    """The topology on in-process moto, with a 1 s visibility timeout so redelivery is quick."""
    return ensure_topology(sns, sqs, TopologyNames(visibility_timeout=1, max_receive_count=5))
