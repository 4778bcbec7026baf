"""The monolith's REST API: status codes and field errors a client can rely on."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from hr_monolith.people import services as people

pytestmark = pytest.mark.django_db

NEW_USER = {"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper", "department": "ENG"}


def test_create_then_read(api_client, clerk_client, catalogue_entries):
    created = clerk_client.post("/api/users/", NEW_USER, format="json")
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["version"] == 1
    assert body["department"] == "ENG"
    assert api_client.get(f"/api/users/{body['id']}/").json() == body


def test_bad_input_is_a_400_with_field_errors(clerk_client, catalogue_entries):
    response = clerk_client.post(
        "/api/users/",
        {"email": "nope", "department": "XXX", "start_date": "2020-05-01", "end_date": "2020-01-01"},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()
    assert set(errors) >= {"email", "first_name", "last_name", "department"}


def test_end_before_start_is_a_field_error(clerk_client, catalogue_entries):
    response = clerk_client.post(
        "/api/users/", NEW_USER | {"start_date": "2020-05-01", "end_date": "2020-01-01"}, format="json"
    )
    assert response.status_code == 400
    assert "end_date" in response.json()


def test_duplicate_email_is_a_400(clerk_client, catalogue_entries):
    clerk_client.post("/api/users/", NEW_USER, format="json")
    response = clerk_client.post("/api/users/", NEW_USER | {"email": "GRACE@example.com"}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()


def test_patch_deactivate_reactivate_delete(api_client, clerk_client, catalogue_entries):
    user_id = clerk_client.post("/api/users/", NEW_USER, format="json").json()["id"]
    patched = clerk_client.patch(f"/api/users/{user_id}/", {"last_name": "Murray"}, format="json").json()
    assert (patched["last_name"], patched["version"]) == ("Murray", 2)
    deactivated = clerk_client.post(f"/api/users/{user_id}/deactivate/").json()
    assert (deactivated["is_active"], deactivated["version"]) == (False, 3)
    reactivated = clerk_client.post(f"/api/users/{user_id}/reactivate/").json()
    assert (reactivated["is_active"], reactivated["version"]) == (True, 4)
    assert clerk_client.delete(f"/api/users/{user_id}/").status_code == 204
    assert api_client.get(f"/api/users/{user_id}/").status_code == 404


def test_patch_with_bad_field_values_is_a_400(clerk_client, catalogue_entries):
    user_id = clerk_client.post("/api/users/", NEW_USER, format="json").json()["id"]
    response = clerk_client.patch(f"/api/users/{user_id}/", {"position": "NOPE", "email": ""}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"position", "email"}


def test_unknown_user_is_a_404(clerk_client):
    missing = uuid.uuid4()
    assert clerk_client.get(f"/api/users/{missing}/").status_code == 404
    assert clerk_client.patch(f"/api/users/{missing}/", {"first_name": "x"}, format="json").status_code == 404
    assert clerk_client.post(f"/api/users/{missing}/deactivate/").status_code == 404
    assert clerk_client.delete(f"/api/users/{missing}/").status_code == 404


def test_wrong_or_missing_token_is_a_401():
    client = APIClient()
    assert client.get("/api/users/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get("/api/users/").status_code == 401


def test_catalogue_writes_need_staff_or_the_model_permission(api_client, staff_client, catalogue_entries):
    assert api_client.get("/api/departments/").json()["count"] == 2
    assert api_client.post("/api/departments/", {"code": "OPS", "name": "Ops"}).status_code == 403
    assert staff_client.post("/api/departments/", {"code": "OPS", "name": "Ops"}).status_code == 201
    assert staff_client.post("/api/departments/", {"code": "OPS", "name": "Ops"}).status_code == 400
    assert staff_client.post("/api/departments/", {"code": "bad code!", "name": ""}).status_code == 400
    response = staff_client.patch("/api/departments/OPS/", {"name": "Operations"}, format="json")
    assert response.json() == {"code": "OPS", "name": "Operations", "version": 2}
    assert staff_client.get("/api/departments/NOPE/").status_code == 404


def test_health_needs_no_login():
    response = APIClient().get("/health/")
    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"


def test_openapi_schema_is_served(api_client):
    response = api_client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/users/" in response.content


def test_openapi_schema_is_valid_and_warning_free():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_a_bigger_limit_is_clamped_to_the_largest_page(api_client, settings):
    settings.HR_API_MAX_LIMIT = 2
    for n in range(3):
        people.user_create(email=f"p{n}@example.com", first_name="P", last_name=str(n))
    page = api_client.get("/api/users/?limit=1000000").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert "limit=2" in page["next"]


def test_a_throttled_request_gets_429_with_retry_after(api_client, monkeypatch):
    # DRF binds the rates when it is imported: set them where the throttles read them.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "2/min", "anon": "2/min"})
    statuses = [api_client.get("/api/departments/").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    refused = api_client.get("/api/departments/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
