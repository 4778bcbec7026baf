"""What a worker logs per task: Celery's "received" line (one per task, on the consumer thread
every task waits for) only at DEBUG; one "succeeded" line per task, with the task's ids."""

from __future__ import annotations

import contextlib
import json
import logging
import logging.config
from collections.abc import Iterator

import pytest
from celery import Celery

from events import types
from shared_settings.logs import TASK_RECEIVED_LOGGER, logging_config
from tests.broker import start_events_worker
from tests.users_service.events import new_user_id, user_state_event
from tests.users_service.test_real_worker import TASK, wait_succeeded
from users_service.queues import EVENTS

TASK_DONE_LOGGER = "celery.app.trace"


@contextlib.contextmanager
def _service_logging(level: str) -> Iterator[None]:
    """The service's LOGGING applied to this process, and the logging it had put back afterwards."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    names = (TASK_RECEIVED_LOGGER, TASK_DONE_LOGGER)
    saved = {name: logging.getLogger(name).level for name in names}
    logging.config.dictConfig(logging_config(log_format="json", level=level))
    try:
        yield
    finally:
        root.handlers[:], root.level = saved_root
        for name, saved_level in saved.items():
            logging.getLogger(name).setLevel(saved_level)


@pytest.mark.parametrize(
    ("level", "received", "succeeded"),
    [("DEBUG", True, True), ("INFO", False, True), ("WARNING", False, False)],
)
def test_the_received_line_is_shown_at_debug_only(level, received, succeeded):
    # Celery's worker decides once, from these loggers, whether to build and log each line.
    with _service_logging(level):
        assert logging.getLogger(TASK_RECEIVED_LOGGER).isEnabledFor(logging.INFO) is received
        assert logging.getLogger(TASK_DONE_LOGGER).isEnabledFor(logging.INFO) is succeeded
        assert logging.getLogger(TASK_RECEIVED_LOGGER).isEnabledFor(logging.ERROR)


@pytest.mark.e2e
def test_a_worker_logs_one_line_per_task_with_its_ids(worker_env, redis_url, tmp_path):
    client = Celery(broker=redis_url, set_as_current=False)
    client.conf.update(task_serializer="json", accept_content=["json"])
    envelope = user_state_event(new_user_id(), 1, types.USER_CREATED)
    task_id = f"{envelope['event_id']}:{TASK}"
    worker = start_events_worker("logs-worker", dict(worker_env, LOG_LEVEL="INFO"), tmp_path / "log")
    try:
        client.send_task(TASK, args=[envelope], task_id=task_id, queue=EVENTS.queue)
        wait_succeeded(worker, task_id)
    finally:
        worker.stop()
    lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.startswith("{")]
    about_task = [line for line in lines if task_id in json.dumps(line)]
    assert not [line for line in about_task if line.get("logger") == TASK_RECEIVED_LOGGER]
    (succeeded,) = [line for line in about_task if line.get("logger") == TASK_DONE_LOGGER]
    assert succeeded["task_id"] == task_id
    assert succeeded["event_id"] == envelope["event_id"]
    assert succeeded["user_id"] == envelope["aggregate_id"]
