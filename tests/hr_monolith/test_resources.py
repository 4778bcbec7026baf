"""Resource grants: each change writes `user.resources_changed` in its transaction; the slow endpoint."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from events.envelope import Envelope
from events.representations import RESOURCE_GRANT, USER_RESOURCES
from events.types import USER_RESOURCES_CHANGED
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.people import services as people
from hr_monolith.resources import services
from hr_monolith.resources.models import ResourceGrant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_endpoint(settings):
    settings.RESOURCES_LATENCY_MS = 0


@pytest.fixture
def employee():
    return people.user_create(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def staff_client() -> APIClient:
    account = get_user_model().objects.create_user("boss", password="x", is_staff=True)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    return client


def resource_events(user_id) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(aggregate_id=str(user_id), event_type=USER_RESOURCES_CHANGED))


def test_grant_writes_a_valid_resources_changed_event_with_the_users_version(employee):
    services.resource_grant(user_id=employee.id, resource="vpn", level="write")

    [row] = resource_events(employee.id)
    envelope = Envelope.from_dict(row.envelope)
    envelope.validate()
    assert envelope.payload == {"id": str(employee.id)}
    assert envelope.aggregate_version == employee.version == 1
    assert ResourceGrant.objects.get(user=employee).level == "write"


def test_regrant_at_the_same_level_changes_nothing_and_writes_no_event(employee):
    services.resource_grant(user_id=employee.id, resource="vpn")
    services.resource_grant(user_id=employee.id, resource="vpn")
    assert len(resource_events(employee.id)) == 1


def test_revoke_writes_an_event_only_when_a_grant_existed(employee):
    services.resource_grant(user_id=employee.id, resource="vpn")
    assert services.resource_revoke(user_id=employee.id, resource="vpn") is True
    assert services.resource_revoke(user_id=employee.id, resource="vpn") is False
    assert len(resource_events(employee.id)) == 2
    assert not ResourceGrant.objects.exists()


def test_grant_for_an_unknown_user_raises_and_writes_nothing():
    from hr_monolith.people.models import User

    with pytest.raises(User.DoesNotExist):
        services.resource_grant(user_id=uuid.uuid4(), resource="vpn")
    assert not OutboxEvent.objects.filter(event_type=USER_RESOURCES_CHANGED).exists()


def test_resources_endpoint_lists_grants(employee, staff_client):
    services.resource_grant(user_id=employee.id, resource="wiki", level="read")
    services.resource_grant(user_id=employee.id, resource="payroll", level="admin")

    response = staff_client.get(f"/api/users/{employee.id}/resources/")

    assert response.status_code == 200
    body = response.json()
    assert body["user_id"] == str(employee.id)
    listed = [(r["resource"], r["level"]) for r in body["resources"]]
    assert listed == [("payroll", "admin"), ("wiki", "read")]


def test_resources_endpoint_answers_the_declared_representation(employee, staff_client):
    """The users service caches this body and documents it from the same declaration."""
    services.resource_grant(user_id=employee.id, resource="wiki", level="read")

    body = staff_client.get(f"/api/users/{employee.id}/resources/").json()

    assert list(body) == list(USER_RESOURCES)
    assert [list(grant) for grant in body["resources"]] == [list(RESOURCE_GRANT)]


def test_resources_endpoint_answers_404_with_a_body_for_an_unknown_user(staff_client):
    response = staff_client.get(f"/api/users/{uuid.uuid4()}/resources/")
    assert response.status_code == 404
    assert "detail" in response.json()


def test_resources_endpoint_needs_a_login(employee):
    assert APIClient().get(f"/api/users/{employee.id}/resources/").status_code == 401


def test_grant_and_revoke_over_the_api(employee, staff_client):
    created = staff_client.post(
        f"/api/users/{employee.id}/resources/", {"resource": "vpn", "level": "write"}, format="json"
    )
    assert created.status_code == 201, created.content
    assert created.json()["resources"][0]["resource"] == "vpn"

    assert staff_client.delete(f"/api/users/{employee.id}/resources/vpn/").status_code == 204
    assert staff_client.delete(f"/api/users/{employee.id}/resources/vpn/").status_code == 404


@pytest.mark.parametrize(
    "body", [{"resource": "Not A Code!"}, {"resource": "vpn", "level": "owner"}, {}], ids=str
)
def test_bad_grant_input_is_a_400_with_field_errors(employee, staff_client, body):
    response = staff_client.post(f"/api/users/{employee.id}/resources/", body, format="json")
    assert response.status_code == 400
    assert set(response.json()) <= {"resource", "level"}
    assert not ResourceGrant.objects.exists()


def test_grants_are_staff_only(employee):
    account = get_user_model().objects.create_user("clerk", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    assert client.post(f"/api/users/{employee.id}/resources/", {"resource": "vpn"}).status_code == 403
    assert client.get(f"/api/users/{employee.id}/resources/").status_code == 200


def test_admin_lists_grants_but_cannot_add_change_or_delete_them(employee):
    services.resource_grant(user_id=employee.id, resource="vpn", level="write")
    grant = ResourceGrant.objects.get(user=employee)
    browser = Client()
    browser.force_login(get_user_model().objects.create_superuser("admin", password="pw"))

    assert browser.get("/admin/resources/resourcegrant/").status_code == 200
    assert browser.get("/admin/resources/resourcegrant/add/").status_code == 403
    assert (
        browser.post(f"/admin/resources/resourcegrant/{grant.pk}/change/", {"level": "read"}).status_code
        == 403
    )
    assert (
        browser.post(f"/admin/resources/resourcegrant/{grant.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert ResourceGrant.objects.get(pk=grant.pk).level == "write"
