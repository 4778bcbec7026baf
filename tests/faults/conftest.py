"""One pipeline of real processes (moto server, two Redis, SQLite, relay, bridge, events worker) shared by
the fault scenarios of this directory, which run in order and each end converged."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.faults import FaultStack, fault_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultStack]:
    settings = {"REPORTS_BEAT_LOCK_TTL": "3", "HANDOFF_GRACE_SECONDS": "2", "HANDOFF_SWEEP_SECONDS": "1"}
    with fault_stack(tmp_path_factory.mktemp("faults"), **settings) as stack:
        for name in ("relay", "bridge", "worker-events"):
            stack.start(name)
        stack.worker_ready()
        yield stack
