"""Admin shows the read model, inbox, failed tasks, task results and periodic tasks; the data is read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory.models import FailedTask, UserRecord
from users_service.directory.services import apply_user_event
from users_service.directory.tasks import apply_user_event as apply_task

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser() -> Client:
    admin = get_user_model().objects.create_superuser("admin", password="pw")
    client = Client()
    client.force_login(admin)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/directory/userrecord/",
        "/admin/directory/inboxentry/",
        "/admin/directory/failedtask/",
        "/admin/bridge/handoff/",
        "/admin/django_celery_results/taskresult/",
        "/admin/django_celery_beat/periodictask/",
    ],
)
def test_admin_lists_load(browser, path):
    user_id = new_user_id()
    apply_user_event(envelope=user_state_event(user_id, 1, types.USER_CREATED), task_name="t")
    bad = user_state_event(new_user_id(), 1, types.USER_CREATED)
    del bad["payload"]["email"]
    apply_task.apply(args=[bad])
    assert browser.get(path).status_code == 200


def test_read_model_and_failed_tasks_cannot_be_added_or_edited(browser):
    user_id = new_user_id()
    apply_user_event(envelope=user_state_event(user_id, 1, types.USER_CREATED), task_name="t")
    assert browser.get("/admin/directory/userrecord/add/").status_code == 403
    assert (
        browser.post(f"/admin/directory/userrecord/{user_id}/change/", {"email": "x@y.z"}).status_code == 403
    )
    assert UserRecord.objects.get(pk=user_id).email != "x@y.z"
    assert browser.get("/admin/directory/failedtask/add/").status_code == 403


def test_failed_task_detail_shows_its_error(browser):
    bad = user_state_event(new_user_id(), 1, types.USER_CREATED)
    del bad["payload"]["email"]
    apply_task.apply(args=[bad])
    failed = FailedTask.objects.get()
    page = browser.get(f"/admin/directory/failedtask/{failed.pk}/change/")
    assert page.status_code == 200
    assert "InvalidEvent" in page.content.decode()
