"""Failed tasks hold events (personal data included): admin may delete them with the permission
only, and re-enqueued ones are pruned after FAILED_TASKS_RETENTION_DAYS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from users_service.directory.models import FailedTask
from users_service.directory.tasks import prune_failed_tasks

pytestmark = pytest.mark.django_db


def failed_task(task_id: str, *, status=FailedTask.Status.FAILED, requeued_days_ago: int | None = None):
    requeued_at = None if requeued_days_ago is None else timezone.now() - timedelta(days=requeued_days_ago)
    return FailedTask.objects.create(
        task_id=task_id,
        task_name="directory.apply_user_event",
        args=[{"event_id": task_id}],
        error="OperationalError: x",
        attempts=9,
        transient=True,
        status=status,
        failed_at=timezone.now() - timedelta(days=60),
        requeued_at=requeued_at,
    )


def staff_client(client, django_user_model, *codenames: str):
    account = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    account.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(account)
    return client


def test_staff_without_the_delete_permission_cannot_delete_a_failed_task(client, django_user_model):
    row = failed_task("t-1")
    client = staff_client(client, django_user_model, "view_failedtask", "change_failedtask")
    url = f"/admin/directory/failedtask/{row.pk}/delete/"
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    assert FailedTask.objects.filter(pk=row.pk).exists()


def test_staff_with_the_delete_permission_deletes_failed_tasks_in_bulk(client, django_user_model):
    rows = [failed_task("t-1"), failed_task("t-2")]
    client = staff_client(client, django_user_model, "view_failedtask", "delete_failedtask")
    response = client.post(
        "/admin/directory/failedtask/",
        {"action": "delete_selected", "_selected_action": [row.pk for row in rows], "post": "yes"},
    )
    assert response.status_code == 302
    assert not FailedTask.objects.exists()


def test_prune_deletes_only_re_enqueued_tasks_past_the_retention(settings):
    settings.FAILED_TASKS_RETENTION_DAYS = 30
    failed_task("old-requeued", status=FailedTask.Status.REQUEUED, requeued_days_ago=31)
    failed_task("new-requeued", status=FailedTask.Status.REQUEUED, requeued_days_ago=29)
    failed_task("still-failed")
    assert prune_failed_tasks() == 1
    assert set(FailedTask.objects.values_list("task_id", flat=True)) == {"new-requeued", "still-failed"}
