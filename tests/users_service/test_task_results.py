"""Which task runs leave a row in the result backend (django-celery-results), traced as a worker
traces them: the per-event apply task stores only failures; other tasks keep every result."""

from __future__ import annotations

import pytest
from celery.app.trace import build_tracer
from django_celery_results.models import TaskResult

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.celery import app
from users_service.directory.models import FailedTask, InboxEntry
from users_service.directory.tasks import apply_user_event

pytestmark = pytest.mark.django_db(transaction=True)


def run_as_worker(task, task_id: str, args: list) -> None:
    """Celery's worker-side tracer (result backend writes included), without a broker."""
    tracer = build_tracer(task.name, task, app=app, eager=False, propagate=False)
    request = {"id": task_id, "delivery_info": {"routing_key": "events"}, "hostname": "test@host"}
    tracer(task_id, args, {}, request)


@pytest.fixture(autouse=True)
def _django_db_backend(settings):
    assert app.conf.result_backend == "django-db"


def test_applied_event_leaves_its_inbox_row_and_no_result_row():
    envelope = user_state_event(new_user_id(), 1, types.USER_CREATED)
    run_as_worker(apply_user_event, "ok-1", [envelope])
    assert InboxEntry.objects.filter(event_id=envelope["event_id"], outcome="applied").exists()
    assert not TaskResult.objects.filter(task_id="ok-1").exists()


def test_failed_event_task_is_stored_in_results_and_failed_tasks():
    bad = user_state_event(new_user_id(), 1, types.USER_CREATED)
    del bad["payload"]["email"]
    run_as_worker(apply_user_event, "bad-1", [bad])
    assert TaskResult.objects.get(task_id="bad-1").status == "FAILURE"
    assert FailedTask.objects.get(task_id="bad-1").error.startswith("InvalidEvent")


def test_other_tasks_still_store_their_results():
    from celery import shared_task

    @shared_task(name="tests.results.echo")
    def echo(value: str) -> str:
        return value

    run_as_worker(app.tasks["tests.results.echo"], "echo-1", ["x"])
    assert TaskResult.objects.get(task_id="echo-1").status == "SUCCESS"
