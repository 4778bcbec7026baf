"""A user's life through the real pipeline: monolith API → outbox → relay → SNS → SQS →
bridge → Redis → Celery worker → read model → users service API."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def read_model(stack, user_id: str) -> dict | None:
    response = stack.users("GET", f"/api/users/{user_id}/")
    return response.json() if response.status_code == 200 else None


def wait_for_version(stack, user_id: str, version: int) -> dict:
    seen: dict = {}

    def arrived() -> bool:
        seen["body"] = read_model(stack, user_id)
        return bool(seen["body"]) and seen["body"]["version"] >= version

    stack.wait_for(arrived, what=f"user {user_id} at version {version} in the users service")
    return seen["body"]


def test_create_update_deactivate_erase_reach_the_users_service(stack):
    assert (
        stack.hr("POST", "/api/departments/", json={"code": "ENG", "name": "Engineering"}).status_code == 201
    )
    created = stack.hr(
        "POST",
        "/api/users/",
        json={"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "department": "ENG"},
    )
    assert created.status_code == 201, created.text
    user = created.json()

    seen = wait_for_version(stack, user["id"], 1)
    assert seen == user | {"erased": False}

    stack.hr("PATCH", f"/api/users/{user['id']}/", json={"last_name": "King"}).raise_for_status()
    seen = wait_for_version(stack, user["id"], 2)
    assert (seen["last_name"], seen["is_active"]) == ("King", True)

    stack.hr("POST", f"/api/users/{user['id']}/deactivate/").raise_for_status()
    seen = wait_for_version(stack, user["id"], 3)
    assert seen["is_active"] is False

    assert stack.hr("DELETE", f"/api/users/{user['id']}/").status_code == 204
    seen = wait_for_version(stack, user["id"], 4)
    assert seen == {"id": user["id"], "version": 4, "erased": True}
    listed = stack.users("GET", "/api/users/").json()
    assert user["id"] not in [u["id"] for u in listed["results"]]


def test_an_erase_while_the_relay_is_down_supersedes_the_unpublished_events(stack):
    """The erase drops the person's unpublished events from the outbox: the users service still
    ends in the erased state, and another person's events written meanwhile all arrive."""
    relay = stack.processes["hr-relay"]
    relay.stop()
    try:
        person = {"email": "gone@example.com", "first_name": "Gone", "last_name": "Soon"}
        created = stack.hr("POST", "/api/users/", json=person)
        assert created.status_code == 201, created.text
        gone = created.json()["id"]
        stack.hr("PATCH", f"/api/users/{gone}/", json={"last_name": "Sooner"}).raise_for_status()
        other = {"email": "kept@example.com", "first_name": "Kept", "last_name": "Here"}
        kept = stack.hr("POST", "/api/users/", json=other).json()["id"]
        stack.hr("PATCH", f"/api/users/{kept}/", json={"last_name": "There"}).raise_for_status()
        assert stack.hr("DELETE", f"/api/users/{gone}/").status_code == 204
    finally:
        relay.start()

    assert wait_for_version(stack, gone, 3) == {"id": gone, "version": 3, "erased": True}
    seen = wait_for_version(stack, kept, 2)
    assert (seen["last_name"], seen["version"]) == ("There", 2)
