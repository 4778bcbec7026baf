"""The task policy: countdowns bounded by the queue's visibility timeout, one retry mechanism with
the project's backoff, and the transient errors each task family declares."""

from __future__ import annotations

import datetime
import json

import pytest
import redis
from celery.exceptions import Retry
from django.db import InterfaceError, OperationalError

from events.backoff import Backoff
from events.errors import TransientError
from users_service import queues
from users_service.catalogue.tasks import invalidate_catalogue
from users_service.celery import app
from users_service.directory.tasks import apply_user_event
from users_service.read_through import InvalidationFailed
from users_service.reports.tasks import cleanup_report_runs, run_report
from users_service.resources.tasks import invalidate_resources, warm_resources
from users_service.task_policy import CountdownTooLong, ServiceTask, ensure_within_visibility
from users_service.upstream import UpstreamNotFound, UpstreamRefused, UpstreamUnavailable

SERVICE_TASKS = [
    apply_user_event,
    invalidate_catalogue,
    invalidate_resources,
    warm_resources,
    run_report,
    cleanup_report_runs,
]


def queued(broker_url: str, queue: str) -> list[dict]:
    return [json.loads(raw) for raw in redis.Redis.from_url(broker_url).lrange(queue, 0, -1)]


def test_only_json_is_accepted_and_tasks_ack_late():
    assert app.conf.task_serializer == "json"
    assert app.conf.accept_content == ["json"]
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


def test_every_task_of_the_app_uses_the_policy():
    app.loader.import_default_modules()
    ours = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    assert {task.name for task in SERVICE_TASKS} <= {task.name for task in ours}
    assert all(isinstance(task, ServiceTask) for task in ours)
    assert isinstance(app.tasks["celery.backend_cleanup"], ServiceTask)


def test_no_task_waits_celerys_own_backoff_instead_of_the_projects():
    app.loader.import_default_modules()
    own = [
        name
        for name, task in app.tasks.items()
        if getattr(task, "retry_backoff", False) or "countdown" in getattr(task, "retry_kwargs", {})
    ]
    assert own == []


@pytest.mark.parametrize(
    ("task", "transient", "not_transient"),
    [
        (apply_user_event, [OperationalError(), InterfaceError()], [KeyError(), UpstreamUnavailable()]),
        (invalidate_catalogue, [InvalidationFailed()], [OperationalError(), KeyError()]),
        (invalidate_resources, [InvalidationFailed()], [KeyError()]),
        (warm_resources, [UpstreamUnavailable()], [UpstreamRefused(), UpstreamNotFound(), KeyError()]),
        (run_report, [OperationalError(), UpstreamUnavailable()], [UpstreamRefused(), KeyError()]),
    ],
)
def test_each_family_declares_which_errors_are_transient(task, transient, not_transient):
    assert all(isinstance(error, task.autoretry_for) for error in transient)
    assert not any(isinstance(error, task.autoretry_for) for error in not_transient)


def test_the_one_upstream_unavailable_is_transient_and_the_refusal_is_not():
    assert issubclass(UpstreamUnavailable, TransientError)
    assert not issubclass(UpstreamRefused, TransientError)


@pytest.mark.parametrize("task", SERVICE_TASKS, ids=lambda task: task.name)
def test_a_task_cannot_wait_past_its_queues_visibility_timeout(celery_broker, task):
    role = queues.role_of_task(task.name)
    with pytest.raises(CountdownTooLong):
        task.apply_async(args=[{}], countdown=role.max_countdown + 1)
    eta = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=role.visibility_timeout)
    with pytest.raises(CountdownTooLong):
        task.apply_async(args=[{}], eta=eta)
    assert queued(celery_broker, role.queue) == []


def test_the_limit_is_the_one_of_the_queue_a_task_is_sent_to(celery_broker):
    longer = queues.REPORTS.max_countdown
    assert longer > queues.EVENTS.max_countdown
    with pytest.raises(CountdownTooLong):
        apply_user_event.apply_async(args=[{}], countdown=longer)
    apply_user_event.apply_async(args=[{}], countdown=longer, queue=queues.REPORTS.queue, task_id="t-r")
    [message] = queued(celery_broker, queues.REPORTS.queue)
    assert message["headers"]["id"] == "t-r"


def test_countdown_within_the_limit_is_sent_to_its_queue(celery_broker):
    apply_user_event.apply_async(args=[{"x": 1}], countdown=5, task_id="t-1")
    [message] = queued(celery_broker, "events")
    assert message["headers"]["id"] == "t-1"
    assert message["headers"]["task"] == "directory.apply_user_event"
    assert message["headers"]["eta"]


def test_the_reports_look_again_countdown_fits_their_queue():
    # run_report retries a run another worker holds after REPORTS.time_limit + 5 s.
    assert queues.REPORTS.time_limit + 5 <= queues.REPORTS.max_countdown


def test_naive_eta_is_taken_as_utc():
    now = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)
    with pytest.raises(CountdownTooLong):
        ensure_within_visibility(eta=datetime.datetime(2026, 1, 1, 13, 1), limit=3600, now=now)
    ensure_within_visibility(eta=datetime.datetime(2026, 1, 1, 12, 59), limit=3600, now=now)


@pytest.mark.parametrize(
    ("task", "service", "args"),
    [
        (apply_user_event, "users_service.directory.services.apply_user_event", [{"x": 1}]),
        (warm_resources, "users_service.resources.services.resources_warm", [{"aggregate_id": "x"}]),
        (run_report, "users_service.reports.services.report_run", ["headcount_by_department"]),
    ],
    ids=lambda value: getattr(value, "name", None),
)
def test_a_transient_error_retries_through_the_broker_with_the_roles_backoff(
    celery_broker, settings, monkeypatch, task, service, args
):
    role = queues.role_of_task(task.name)
    error = task.autoretry_for[0]

    def fails(**kwargs):
        raise error()

    monkeypatch.setattr(service, fails)
    settings.CELERY_TASK_MAX_RETRIES = 30
    retries = 20  # far into the backoff: the role's cap decides the delay
    ceiling = Backoff(base=settings.CELERY_RETRY_BACKOFF_BASE, cap=role.retry_backoff_cap).ceiling(
        retries + 1
    )
    assert ceiling == role.retry_backoff_cap
    # As a worker runs it: a request of its own, then the body (with Celery's autoretry around it).
    task.push_request(id="t-retry", args=args, kwargs={}, retries=retries, called_directly=False)
    before = datetime.datetime.now(datetime.UTC)
    try:
        with pytest.raises(Retry):
            task.run(*args)
    finally:
        task.pop_request()
    after = datetime.datetime.now(datetime.UTC)

    [message] = queued(celery_broker, role.queue)
    eta = datetime.datetime.fromisoformat(message["headers"]["eta"])
    assert (message["headers"]["id"], message["headers"]["retries"]) == ("t-retry", retries + 1)
    # Equal jitter: between half and all of the ceiling.
    assert (
        before + datetime.timedelta(seconds=ceiling / 2) <= eta <= after + datetime.timedelta(seconds=ceiling)
    )


def test_retries_spent_the_task_fails_with_the_error(celery_broker, settings, monkeypatch):
    def locked(**kwargs):
        raise OperationalError("still locked")

    monkeypatch.setattr("users_service.directory.services.apply_user_event", locked)
    settings.CELERY_TASK_MAX_RETRIES = 2
    apply_user_event.push_request(id="t-spent", args=[{}], kwargs={}, retries=2, called_directly=False)
    try:
        with pytest.raises(OperationalError, match="still locked"):
            apply_user_event.run({})
    finally:
        apply_user_event.pop_request()
    assert queued(celery_broker, "events") == []
