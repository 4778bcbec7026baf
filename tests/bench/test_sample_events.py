"""The benchmarks build their own events (bench/_events.py): they must stay valid under the contract,
or a benchmark would measure the DLQ instead of the pipeline."""

from __future__ import annotations

import pytest

from bench._events import user_envelope
from events import types


@pytest.mark.parametrize("event_type", sorted(types.USER_SNAPSHOT_TYPES))
def test_bench_user_events_satisfy_their_schema(event_type):
    user_envelope(event_type, version=3).validate()


def test_the_benchmarks_variants_satisfy_the_schema_too():
    # e2e's ceiling (no catalogue entries, no start date) and worker_apply's updates.
    user_envelope(types.USER_CREATED, department=None, location=None, start_date=None).validate()
    user_envelope(types.USER_UPDATED, version=8, last_name="n2999").validate()
