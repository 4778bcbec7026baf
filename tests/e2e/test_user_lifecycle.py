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
