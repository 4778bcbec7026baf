"""Transient errors retry, then land in FailedTask; admin re-enqueues failed tasks in bulk."""

from __future__ import annotations

import json

import pytest
import redis
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.test import Client

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory import services
from users_service.directory.models import FailedTask, UserRecord
from users_service.directory.tasks import apply_user_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def flaky_service(monkeypatch):
    """Make the service raise `error` for its first `failures` calls, then behave."""
    calls = {"n": 0}
    real = services.apply_user_event

    def arm(error: BaseException, failures: int) -> dict:
        def flaky(**kwargs):
            calls["n"] += 1
            if calls["n"] <= failures:
                raise error
            return real(**kwargs)

        monkeypatch.setattr(services, "apply_user_event", flaky)
        return calls

    return arm


def test_transient_error_is_retried_until_it_clears(flaky_service):
    calls = flaky_service(OperationalError("database is locked"), failures=2)
    user_id = new_user_id()
    result = apply_user_event.apply(args=[user_state_event(user_id, 1, types.USER_CREATED)])
    assert result.get() == "applied"
    assert calls["n"] == 3
    assert UserRecord.objects.get(pk=user_id).version == 1
    assert not FailedTask.objects.exists()


def test_after_the_last_retry_the_task_is_recorded_as_failed(flaky_service, settings):
    settings.CELERY_TASK_MAX_RETRIES = 3
    calls = flaky_service(OperationalError("server closed the connection"), failures=100)
    envelope = user_state_event(new_user_id(), 1, types.USER_CREATED)
    result = apply_user_event.apply(args=[envelope], task_id="evt:directory.apply_user_event")
    assert result.failed()
    assert calls["n"] == 4
    failed = FailedTask.objects.get()
    assert failed.task_id == "evt:directory.apply_user_event"
    assert failed.task_name == "directory.apply_user_event"
    assert failed.args == [envelope]
    assert failed.attempts == 4
    assert failed.transient is True
    assert failed.status == FailedTask.Status.FAILED
    assert failed.error == "OperationalError: server closed the connection"


def test_an_error_that_is_not_transient_fails_at_once(flaky_service):
    calls = flaky_service(KeyError("payload"), failures=100)
    result = apply_user_event.apply(args=[user_state_event(new_user_id(), 1, types.USER_CREATED)])
    assert result.failed()
    assert calls["n"] == 1
    failed = FailedTask.objects.get()
    assert (failed.attempts, failed.transient) == (1, False)


def test_an_invalid_envelope_fails_at_once_and_is_recorded():
    bad = user_state_event(new_user_id(), 1, types.USER_CREATED)
    del bad["payload"]["email"]
    assert apply_user_event.apply(args=[bad]).failed()
    failed = FailedTask.objects.get()
    assert failed.error.startswith("InvalidEvent")
    assert failed.transient is False


def _failed_task(task_id: str, envelope: dict) -> FailedTask:
    return services.failed_task_record(
        task_id=task_id,
        task_name="directory.apply_user_event",
        args=[envelope],
        kwargs={},
        queue="events",
        error="OperationalError: x",
        traceback="",
        attempts=9,
        transient=True,
    )


def _queued(broker_url: str) -> list[dict]:
    return [json.loads(raw) for raw in redis.Redis.from_url(broker_url).lrange("events", 0, -1)]


def test_requeue_sends_each_failed_task_once_under_its_own_id(celery_broker):
    envelopes = [user_state_event(new_user_id(), 1, types.USER_CREATED) for _ in range(2)]
    for index, envelope in enumerate(envelopes):
        _failed_task(f"task-{index}", envelope)

    assert services.failed_task_requeue(failed_tasks=FailedTask.objects.all()) == 2
    assert services.failed_task_requeue(failed_tasks=FailedTask.objects.all()) == 0

    messages = _queued(celery_broker)
    assert sorted(m["headers"]["id"] for m in messages) == ["task-0", "task-1"]
    assert all(m["headers"]["task"] == "directory.apply_user_event" for m in messages)
    assert set(FailedTask.objects.values_list("status", "requeue_count")) == {("requeued", 1)}


def test_a_requeued_task_that_fails_again_is_failed_again(celery_broker, flaky_service):
    envelope = user_state_event(new_user_id(), 1, types.USER_CREATED)
    _failed_task("task-0", envelope)
    services.failed_task_requeue(failed_tasks=FailedTask.objects.all())
    flaky_service(KeyError("again"), failures=100)
    apply_user_event.apply(args=[envelope], task_id="task-0")
    failed = FailedTask.objects.get()
    assert (failed.status, failed.requeue_count, failed.attempts) == ("failed", 1, 1)


def test_admin_requeues_the_selected_failed_tasks(celery_broker):
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    browser = Client()
    browser.force_login(admin)
    chosen = _failed_task("task-a", user_state_event(new_user_id(), 1, types.USER_CREATED))
    _failed_task("task-b", user_state_event(new_user_id(), 1, types.USER_CREATED))

    response = browser.post(
        "/admin/directory/failedtask/",
        {"action": "requeue", "_selected_action": [chosen.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "Re-enqueued 1 task(s)." in response.content.decode()
    assert [m["headers"]["id"] for m in _queued(celery_broker)] == ["task-a"]
    assert FailedTask.objects.get(task_id="task-b").status == "failed"


def test_admin_reports_a_dead_broker_and_marks_nothing(point_celery):
    from devstack.processes import free_port

    point_celery(f"redis://127.0.0.1:{free_port()}/0")
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    browser = Client()
    browser.force_login(admin)
    chosen = _failed_task("task-a", user_state_event(new_user_id(), 1, types.USER_CREATED))
    response = browser.post(
        "/admin/directory/failedtask/",
        {"action": "requeue", "_selected_action": [chosen.pk]},
        follow=True,
    )
    assert "The broker refused the tasks" in response.content.decode()
    assert FailedTask.objects.get().status == "failed"
