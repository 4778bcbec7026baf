"""Limits of the users service's API: a bigger `limit` is clamped to USERS_API_MAX_LIMIT on every list."""

from __future__ import annotations

import pytest
from django.utils import timezone

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory.services import apply_user_event
from users_service.reports.models import ReportRun

pytestmark = pytest.mark.django_db


def test_a_bigger_limit_is_clamped_on_the_users_list(api_client, settings):
    settings.USERS_API_MAX_LIMIT = 2
    for _ in range(3):
        apply_user_event(envelope=user_state_event(new_user_id(), 1, types.USER_CREATED), task_name="t")
    page = api_client.get("/api/users/?limit=1000000").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert "limit=2" in page["next"]


def test_a_bigger_limit_is_clamped_on_the_reports_list(api_client, settings):
    settings.USERS_API_MAX_LIMIT = 2
    now = timezone.now()
    for day in (21, 22, 23):
        ReportRun.objects.create(
            report="headcount_by_department", period=f"2026-11-{day}", period_start=now, period_end=now
        )
    page = api_client.get("/api/reports/?limit=1000000").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert api_client.get("/api/reports/?limit=ten").status_code == 400
