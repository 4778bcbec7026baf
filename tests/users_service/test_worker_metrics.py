"""A real events worker (prefork: the task runs in a child process) counts into the service's
metrics directory, and the web's `/metrics` and snapshot see it: events applied by type and
outcome, queued -> applied, and commit -> applied from the envelope's `occurred_at`."""

from __future__ import annotations

import pytest

from events import types
from tests.broker import start_events_worker
from tests.users_service.events import new_user_id, user_state_event
from tests.users_service.test_real_worker import TASK, wait_succeeded
from users_service.ops import metrics
from users_service.queues import EVENTS

APPLIED = metrics.series("events_applied_total", {"event_type": types.USER_CREATED, "outcome": "applied"})
QUEUED_TO_APPLIED = metrics.series("task_queued_to_applied_seconds_count", {"task": TASK})
END_TO_END = metrics.series("event_end_to_end_seconds_count", {"event_type": types.USER_CREATED})


@pytest.mark.e2e
def test_a_worker_child_counts_into_the_web_metrics(worker_env, celery_broker, tmp_path):
    from users_service.celery import app

    before = metrics.snapshot()
    worker = start_events_worker("metrics-worker", worker_env, tmp_path / "log")
    try:
        envelope = user_state_event(new_user_id(), 1, types.USER_CREATED)
        task_id = f"{envelope['event_id']}:{TASK}"
        # Through the service's own app: its publish signal stamps the queued-at header.
        app.send_task(TASK, args=[envelope], task_id=task_id, queue=EVENTS.queue)
        wait_succeeded(worker, task_id)
    finally:
        worker.stop()

    after = metrics.snapshot()
    for series in (APPLIED, QUEUED_TO_APPLIED, END_TO_END):
        assert after.get(series, 0) - before.get(series, 0) == 1, series
