"""The users service's REST API over the read model."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory.services import apply_user_event

pytestmark = pytest.mark.django_db


def apply(envelope) -> None:
    apply_user_event(envelope=envelope, task_name="directory.apply_user_event")


def test_user_detail_has_the_payload_fields_and_version(api_client):
    user_id = new_user_id()
    event = user_state_event(user_id, 1, types.USER_CREATED)
    apply(event)
    body = api_client.get(f"/api/users/{user_id}/").json()
    assert body == event["payload"] | {"version": 1, "erased": False}


def test_unknown_user_is_a_404(api_client):
    assert api_client.get(f"/api/users/{new_user_id()}/").status_code == 404


def test_erased_user_is_a_tombstone_without_personal_data(api_client):
    user_id = new_user_id()
    apply(user_state_event(user_id, 1, types.USER_CREATED))
    apply(user_state_event(user_id, 2, types.USER_ERASED))
    assert api_client.get(f"/api/users/{user_id}/").json() == {"id": user_id, "version": 2, "erased": True}
    assert api_client.get("/api/users/").json()["count"] == 0


def test_list_is_paginated(api_client):
    for _ in range(3):
        apply(user_state_event(new_user_id(), 1, types.USER_CREATED))
    page = api_client.get("/api/users/?limit=2").json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"]


def test_login_is_required():
    assert APIClient().get("/api/users/").status_code == 401
