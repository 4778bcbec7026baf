"""Every task message the users service sends names its arguments without their values (a retry,
an admin re-enqueue, any send), and a task of an erased user that fails late is kept redacted."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from kombu import Queue

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.celery import app
from users_service.directory import services
from users_service.directory.models import FailedTask

pytestmark = pytest.mark.django_db

SECRET = "Kp3privatevalue"


def sent_headers(queue: str) -> dict:
    with app.connection_for_write() as connection:
        message = Queue(queue)(connection.default_channel).get(no_ack=True)
    assert message is not None
    return message.headers


def test_a_task_sent_by_code_carries_value_free_argument_reprs(celery_broker):
    envelope = user_state_event(new_user_id(), 1, types.USER_CREATED, first_name=SECRET)
    app.send_task("directory.apply_user_event", args=[envelope], kwargs={"note": SECRET})
    headers = sent_headers("events")
    assert headers["argsrepr"] == f"[<user.created {envelope['event_id']}>]"
    assert headers["kwargsrepr"] == "{'note': <str>}"


def test_an_admin_re_enqueue_carries_value_free_argument_reprs(celery_broker):
    envelope = user_state_event(new_user_id(), 2, first_name=SECRET)
    failed = FailedTask.objects.create(
        task_id="t-1",
        task_name="directory.apply_user_event",
        args=[envelope],
        queue="events",
        error="OperationalError: x",
        attempts=9,
        transient=True,
        failed_at=timezone.now(),
    )
    assert services.failed_task_requeue(failed_tasks=[failed]) == 1
    assert SECRET not in json.dumps(sent_headers("events"))


def test_a_task_of_an_erased_user_that_fails_late_is_recorded_redacted():
    user_id = new_user_id()
    services.apply_user_event(envelope=user_state_event(user_id, 2, types.USER_ERASED), task_name="t")
    late = user_state_event(user_id, 1, first_name=SECRET)
    failed = services.failed_task_record(
        task_id="late-1",
        task_name="directory.apply_user_event",
        args=[late],
        kwargs={},
        queue="events",
        error=f"OperationalError: {SECRET}",
        traceback=f"... {SECRET}",
        attempts=9,
        transient=True,
    )
    assert SECRET not in json.dumps([failed.args, failed.kwargs, failed.error, failed.traceback])
    assert failed.args[0]["event_id"] == late["event_id"]
    assert failed.error.startswith("OperationalError")
