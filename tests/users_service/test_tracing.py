"""One trace per event, users service side: the SNS `traceparent` attribute goes through the bridge
into the Celery task header, and a real worker's log lines carry the event's ids and trace,
never the person's name or email."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from devstack.processes import ManagedProcess, wait_until
from devstack.stack import BASE_DIR, MANAGE
from events import types
from events.publisher import SnsPublisher
from events.tracecontext import TraceParent
from tests.events.bridge.helpers import make_bridge, queued_tasks
from tests.logcapture import json_log_lines
from tests.samples import user_envelope
from tests.users_service.migrated import migrated_database
from users_service.queues import EVENTS
from users_service.task_context import task_traceparent

CALLER = TraceParent.parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
EMAIL = "grace.hopper@example.com"
PERSON = {"email": EMAIL, "first_name": "Gracelyn", "last_name": "Hopperton"}


def _created_event():
    # Built inside the caller's trace, as the monolith's request would.
    from events import tracecontext

    with tracecontext.use(CALLER):
        return user_envelope(types.USER_CREATED, **PERSON)


@pytest.fixture
def handed_over(sns, sqs, topology, redis_url):
    """One user.created published with the caller's traceparent, drained by the bridge into Redis."""
    envelope = _created_event()
    SnsPublisher(sns, topology.topic_arn).publish_batch([envelope], {envelope.event_id: str(CALLER)})
    bridge = make_bridge(sqs, topology, redis_url)
    with json_log_lines() as lines:
        outcome = bridge.poll_once()
    bridge.publisher.close()
    assert outcome.deleted == 1
    return envelope, lines


def test_the_bridge_passes_the_trace_on_in_the_task_header(handed_over, redis_url):
    envelope, _ = handed_over
    (headers,) = [h for h in queued_tasks(redis_url, "events")]
    parent = TraceParent.parse(headers["traceparent"])
    assert parent is not None
    assert parent.trace_id == CALLER.trace_id
    # The hand-off is a span of its own, child of the monolith's.
    assert parent.span_id != CALLER.span_id
    assert headers["id"] == f"{envelope.event_id}:directory.apply_user_event"


def test_the_bridge_logs_each_hand_off_with_the_events_ids(handed_over):
    envelope, lines = handed_over
    (line,) = lines.with_event("user.created handed to the broker")
    assert line["event_id"] == envelope.event_id
    assert line["trace_id"] == CALLER.trace_id
    assert line["user_id"] == envelope.aggregate_id
    assert f"{envelope.event_id}:directory.apply_user_event" in line["task_ids"]
    for personal in PERSON.values():
        assert personal not in lines.text


def test_a_traceparent_of_another_trace_is_not_trusted(sns, sqs, topology, redis_url):
    envelope = _created_event()
    other = TraceParent.new()
    SnsPublisher(sns, topology.topic_arn).publish_batch([envelope], {envelope.event_id: str(other)})
    bridge = make_bridge(sqs, topology, redis_url)
    bridge.poll_once()
    bridge.publisher.close()
    (headers,) = queued_tasks(redis_url, "events")
    assert TraceParent.parse(headers["traceparent"]).trace_id == envelope.trace_id == CALLER.trace_id


def test_a_task_takes_its_trace_from_its_header_else_from_the_envelope():
    envelope = _created_event().to_dict()
    header = str(CALLER.child())
    with_header = SimpleNamespace(request=SimpleNamespace(traceparent=header))
    assert str(task_traceparent(with_header, envelope)) == header
    without = SimpleNamespace(request=SimpleNamespace())
    assert task_traceparent(without, envelope).trace_id == envelope["trace_id"]
    assert task_traceparent(without, None) is None


@pytest.fixture
def worker_env(redis_url, tmp_path) -> dict:
    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("USERS_DATABASE_URL", None)
    env.update(
        VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL=redis_url,
        METRICS_REDIS_URL=redis_url,
        LOG_FORMAT="json",
        # Spans on, one JSON object a line on stdout (the worker's log file).
        OTEL_ENABLED="true",
        OTEL_EXPORTER="console",
        PYTHONUNBUFFERED="1",
    )
    migrated_database(env)
    return env


def _json_lines(path: Path) -> list[dict]:
    lines = []
    for text in path.read_text(errors="replace").splitlines():
        try:
            lines.append(json.loads(text))
        except ValueError:
            continue
    return lines


@pytest.mark.django_db
def test_a_real_workers_log_lines_and_spans_carry_the_events_ids_and_trace(
    handed_over, worker_env, tmp_path, redis_url
):
    envelope, _ = handed_over
    task_id = f"{envelope.event_id}:directory.apply_user_event"
    (headers,) = queued_tasks(redis_url, "events")
    handed = TraceParent.parse(headers["traceparent"])
    worker = ManagedProcess(
        "worker",
        [*MANAGE, "users", "run_worker", EVENTS.queue],
        log_dir=tmp_path,
        env=worker_env,
        cwd=BASE_DIR,
    ).start()
    try:
        wait_until(
            lambda: (
                f"[{task_id}] succeeded" in worker.log_path.read_text(errors="replace") or not worker.running
            ),
            timeout=120,
            what="the event applied",
        )
    finally:
        worker.stop()
    lines = _json_lines(worker.log_path)
    text = worker.log_path.read_text(errors="replace")
    # The task's one line, Celery's own, goes through the same formatter, with the event's ids.
    (applied,) = [line for line in lines if f"[{task_id}] succeeded" in line.get("event", "")]
    assert applied["event"].endswith("'applied'")
    assert applied["event_id"] == envelope.event_id
    assert applied["trace_id"] == CALLER.trace_id
    assert applied["user_id"] == envelope.aggregate_id
    assert applied["task_id"] == task_id
    for personal in PERSON.values():
        assert personal not in text
    # With tracing on, the worker's span of the task is a child of the bridge's hand-off, in the
    # trace of the monolith's request.
    (run,) = [line for line in lines if line.get("name") == "run/directory.apply_user_event"]
    assert run["context"]["trace_id"] == f"0x{CALLER.trace_id}"
    assert run["parent_id"] == f"0x{handed.span_id}"
    assert run["resource"]["attributes"]["service.name"] == "users_service"


@pytest.mark.django_db
def test_a_task_published_again_after_the_broker_lost_it_stays_in_the_events_trace(
    sqs, topology, celery_broker
):
    import redis

    from events.bridge.celery_publisher import CeleryTaskPublisher
    from tests.users_service.bridge.test_handoff import after_grace, drain, send_events, users_bridge
    from users_service.bridge.handoff import handoff_sweep
    from users_service.celery import app

    envelope = _created_event().to_dict()
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))
    redis.Redis.from_url(celery_broker).flushall()  # the broker restarts without its data

    publisher = CeleryTaskPublisher(app)
    try:
        assert handoff_sweep(publisher=publisher, now=after_grace()).republished == 1
    finally:
        publisher.close()
    (headers,) = queued_tasks(celery_broker, EVENTS.queue)
    assert TraceParent.parse(headers["traceparent"]).trace_id == CALLER.trace_id
