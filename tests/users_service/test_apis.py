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


@pytest.fixture
def people(api_client):
    """Four users: two in ENG (one inactive), one in OPS, one erased."""
    ids = {}
    for name, fields in {
        "ada": {"department": "ENG", "first_name": "Ada", "email": "ada@example.com", "location": "LON"},
        "bob": {
            "department": "ENG",
            "first_name": "Bob",
            "email": "bob@example.com",
            "is_active": False,
            "position": "MGR",
        },
        "cy": {"department": "OPS", "first_name": "Cy", "email": "cy@example.com", "location": "NYC"},
        "gone": {"department": "OPS", "first_name": "Gone", "email": "gone@example.com"},
    }.items():
        ids[name] = new_user_id()
        apply(user_state_event(ids[name], 1, types.USER_CREATED, **fields))
    apply(user_state_event(ids["gone"], 2, types.USER_ERASED))
    return ids


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [user["first_name"] for user in response.json()["results"]]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("department=ENG", ["Ada", "Bob"]),
        ("department=OPS", ["Cy"]),
        ("position=MGR", ["Bob"]),
        ("location=NYC", ["Cy"]),
        ("active=false", ["Bob"]),
        ("active=TRUE", ["Ada", "Cy"]),
        ("active=1&department=ENG", ["Ada"]),
        ("search=BOB@", ["Bob"]),
        ("search=cY", ["Cy"]),
        ("ordering=-first_name", ["Cy", "Bob", "Ada"]),
        ("ordering=department,-first_name", ["Bob", "Ada", "Cy"]),
    ],
)
def test_list_filters_search_and_ordering(api_client, people, query, expected):
    response = api_client.get(f"/api/users/?{query}")
    if "ordering" in query:
        assert names(response) == expected
    else:
        assert sorted(names(response)) == expected


def test_updated_since_takes_dates_and_date_times(api_client, people):
    from django.utils import timezone

    from users_service.directory.models import UserRecord

    UserRecord.objects.filter(pk=people["ada"]).update(updated_at=timezone.now() - timezone.timedelta(days=3))
    since = (timezone.now() - timezone.timedelta(days=1)).isoformat()
    assert sorted(names(api_client.get("/api/users/", {"updated_since": since}))) == ["Bob", "Cy"]
    assert len(names(api_client.get("/api/users/?updated_since=2000-01-01"))) == 3


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=2026-13-45", "updated_since"),
        ("active=maybe", "active"),
        ("ordering=password", "ordering"),
        ("ordering=-salary,last_name", "ordering"),
        ("limit=ten", "limit"),
        ("limit=0", "limit"),
        ("offset=-1", "offset"),
        ("departmnet=ENG", "departmnet"),
    ],
)
def test_bad_query_parameters_are_a_400_naming_the_field(api_client, people, query, field):
    response = api_client.get(f"/api/users/?{query}")
    assert response.status_code == 400, response.content
    body = response.json()
    assert list(body) == [field]
    assert body[field]
    assert all(isinstance(message, str) for message in body[field])


def test_list_is_throttled_per_user(api_client, settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "2/min"}
    }
    assert [api_client.get("/api/users/").status_code for _ in range(3)] == [200, 200, 429]


def test_throttling_lets_requests_through_when_the_cache_is_down(api_client, settings):
    from devstack.processes import free_port

    settings.CACHES = {
        "default": settings.CACHES["default"] | {"LOCATION": f"redis://127.0.0.1:{free_port()}/1"}
    }
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "1/min"}
    }
    assert [api_client.get("/api/users/").status_code for _ in range(2)] == [200, 200]


def test_schema_is_valid_and_documents_the_filters(api_client):
    import yaml

    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    schema = yaml.safe_load(response.content)
    parameters = {p["name"] for p in schema["paths"]["/api/users/"]["get"]["parameters"]}
    assert {
        "department",
        "position",
        "location",
        "active",
        "updated_since",
        "search",
        "ordering",
    } <= parameters
    assert {"limit", "offset"} <= parameters


def test_schema_generation_has_no_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_ordered_pages_neither_repeat_nor_skip(api_client):
    ids = [new_user_id() for _ in range(7)]
    for user_id in ids:
        apply(user_state_event(user_id, 1, types.USER_CREATED, department="ENG"))
    seen = []
    for offset in range(0, 7, 2):
        page = api_client.get(f"/api/users/?ordering=department&limit=2&offset={offset}").json()
        seen += [user["id"] for user in page["results"]]
    assert seen == sorted(ids)
