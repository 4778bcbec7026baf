"""The caches through the real pipeline: a change in the monolith reaches the users service's
cached catalogue and resources by event, long before the TTL (minutes) would."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def cached(stack, path: str) -> tuple[str, dict]:
    response = stack.users("GET", path)
    assert response.status_code == 200, response.text
    return response.headers["X-Cache"], response.json()


def department_names(body: dict) -> dict[str, str]:
    return {entry["code"]: entry["name"] for entry in body["results"]}


def test_department_rename_reaches_the_cached_catalogue_without_waiting_for_the_ttl(stack):
    created = stack.hr("POST", "/api/departments/", json={"code": "OPS", "name": "Operations"})
    assert created.status_code == 201, created.text

    def cached_with_the_old_name() -> bool:
        status, body = cached(stack, "/api/catalogue/departments/")
        return status == "hit" and department_names(body).get("OPS") == "Operations"

    stack.wait_for(cached_with_the_old_name, what="OPS cached in the users service's catalogue")

    renamed = stack.hr("PATCH", "/api/departments/OPS/", json={"name": "Operations & Support"})
    assert renamed.status_code == 200, renamed.text

    # The first read after the invalidation fills the entry; a fill that overlapped the
    # invalidation is not stored (its generation is older), so wait for a hit with the new name.
    def cached_with_the_new_name() -> bool:
        status, body = cached(stack, "/api/catalogue/departments/")
        return status == "hit" and department_names(body).get("OPS") == "Operations & Support"

    stack.wait_for(cached_with_the_new_name, what="the new name in the cached catalogue")


def metric(stack, series: str) -> float:
    for line in stack.users("GET", "/metrics").text.splitlines():
        name, _, value = line.rpartition(" ")
        if name == series:
            return float(value)
    return 0.0


WARMED = 'cache_warms_total{cache="resources",result="miss"}'


def test_user_created_warms_resources_and_a_grant_invalidates_them(stack):
    # Counters live in the broker's Redis and outlive one module's stack: compare, not absolute.
    warmed_before = metric(stack, WARMED)
    created = stack.hr(
        "POST",
        "/api/users/",
        json={"email": "grace@example.com", "first_name": "Grace", "last_name": "Hopper"},
    )
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]
    path = f"/api/users/{user_id}/resources/"

    stack.wait_for(
        lambda: metric(stack, WARMED) > warmed_before, what="the resources.warm task of user.created"
    )
    status, body = cached(stack, path)
    assert (status, body) == ("hit", {"user_id": user_id, "resources": []})

    granted = stack.hr("POST", path, json={"resource": "vpn", "level": "write"})
    assert granted.status_code == 201, granted.text

    stack.wait_for(
        lambda: (
            [(r["resource"], r["level"]) for r in cached(stack, path)[1]["resources"]] == [("vpn", "write")]
        ),
        what="the grant in the users service's cached resources",
    )
