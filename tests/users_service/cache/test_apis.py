"""The cached endpoints: `X-Cache`, counters, failure behaviour (cache down, upstream down), 404s."""

from __future__ import annotations

import uuid

import pytest
import redis
from django.test import Client
from rest_framework.test import APIClient

from tests.users_service.cache.support import counted, counter
from users_service import read_through
from users_service.ops import metrics


def test_catalogue_is_filled_on_a_miss_then_served_from_the_cache(api_client, cache_redis, fake_monolith):
    first = api_client.get("/api/catalogue/departments/")
    second = api_client.get("/api/catalogue/departments/")

    assert (first.status_code, first["X-Cache"]) == (200, "miss")
    assert (second.status_code, second["X-Cache"]) == (200, "hit")
    assert (
        first.json()
        == second.json()
        == {
            "kind": "departments",
            "count": 1,
            "results": [{"code": "ENG", "name": "Engineering", "version": 1}],
        }
    )
    assert fake_monolith.calls["/api/departments/"] == 1
    assert metrics.cache_summary(counted())["catalogue"] == {
        "hits": 1.0,
        "misses": 1.0,
        "errors": 0.0,
        "fallthrough": 0.0,
        "hit_ratio": 0.5,
    }
    body = Client().get("/metrics").content.decode()
    values = metrics.snapshot()
    for name in ("cache_hits_total", "cache_misses_total"):
        key = metrics.series(name, {"cache": "catalogue"})
        assert f"{key} {values[key]}" in body.splitlines()


def test_catalogue_follows_the_monoliths_pagination(api_client, cache_redis, fake_monolith, monkeypatch):
    from users_service.catalogue import selectors

    monkeypatch.setattr(selectors, "PAGE_LIMIT", 2)
    fake_monolith.catalogues["locations"] = [
        {"code": f"L{n}", "name": f"Place {n}", "version": 1} for n in range(5)
    ]
    response = api_client.get("/api/catalogue/locations/")
    assert [entry["code"] for entry in response.json()["results"]] == ["L0", "L1", "L2", "L3", "L4"]
    assert fake_monolith.calls["/api/locations/"] == 3


def test_unknown_catalogue_kind_is_a_404_with_a_body(api_client, cache_redis, fake_monolith):
    response = api_client.get("/api/catalogue/planets/")
    assert response.status_code == 404
    assert "Unknown catalogue" in response.json()["detail"]
    assert not fake_monolith.calls


@pytest.mark.parametrize("path", ["/api/catalogue/departments/", f"/api/users/{uuid.uuid4()}/resources/"])
def test_cached_endpoints_need_a_login(db, path):
    assert APIClient().get(path).status_code == 401


def test_resources_are_cached_per_user(api_client, cache_redis, fake_monolith):
    ada, bob = fake_monolith.add_user("vpn"), fake_monolith.add_user("payroll")

    assert api_client.get(f"/api/users/{ada}/resources/")["X-Cache"] == "miss"
    bobs = api_client.get(f"/api/users/{bob}/resources/")
    adas = api_client.get(f"/api/users/{ada}/resources/")

    assert (adas["X-Cache"], bobs["X-Cache"]) == ("hit", "miss")
    assert adas.json()["resources"][0]["resource"] == "vpn"
    assert bobs.json() == {"user_id": bob, "resources": fake_monolith.resources[bob]}
    assert counter("cache_hits_total", "resources") == 1
    assert counter("cache_misses_total", "resources") == 2


def test_resources_of_an_unknown_user_are_a_404_with_a_body(api_client, cache_redis, fake_monolith):
    response = api_client.get(f"/api/users/{uuid.uuid4()}/resources/")
    assert response.status_code == 404
    assert "no employee" in response.json()["detail"]


def test_cache_redis_stopped_answers_200_from_the_upstream(api_client, stoppable_cache, fake_monolith):
    user_id = fake_monolith.add_user("vpn")
    assert api_client.get(f"/api/users/{user_id}/resources/")["X-Cache"] == "miss"
    assert api_client.get(f"/api/users/{user_id}/resources/")["X-Cache"] == "hit"

    stoppable_cache.stop()
    resources = api_client.get(f"/api/users/{user_id}/resources/")
    catalogue = api_client.get("/api/catalogue/departments/")

    assert (resources.status_code, resources["X-Cache"]) == (200, "miss")
    assert resources.json()["resources"][0]["resource"] == "vpn"
    assert (catalogue.status_code, catalogue["X-Cache"]) == (200, "miss")
    assert fake_monolith.calls[f"/api/users/{user_id}/resources/"] == 2
    assert counter("cache_errors_total", "resources", op="get") == 1
    assert counter("cache_fallthrough_total", "resources") == 1
    assert counter("cache_fallthrough_total", "catalogue") == 1


def test_upstream_down_with_a_warm_cache_answers_200_from_the_cache(api_client, cache_redis, fake_monolith):
    user_id = fake_monolith.add_user("vpn")
    api_client.get(f"/api/users/{user_id}/resources/")
    api_client.get("/api/catalogue/departments/")

    fake_monolith.stop()
    resources = api_client.get(f"/api/users/{user_id}/resources/")
    catalogue = api_client.get("/api/catalogue/departments/")

    assert (resources.status_code, resources["X-Cache"]) == (200, "hit")
    assert resources.json()["resources"][0]["resource"] == "vpn"
    assert (catalogue.status_code, catalogue["X-Cache"]) == (200, "hit")


def test_upstream_down_without_a_cached_value_is_a_503_with_a_body(api_client, cache_redis, fake_monolith):
    user_id = fake_monolith.add_user("vpn")
    fake_monolith.stop()

    resources = api_client.get(f"/api/users/{user_id}/resources/")
    catalogue = api_client.get("/api/catalogue/positions/")

    assert resources.status_code == catalogue.status_code == 503
    assert "monolith is unavailable" in resources.json()["detail"]
    assert counter("upstream_errors_total", "resources") == 1


def test_monolith_refusing_the_token_is_a_503_not_a_500(api_client, cache_redis, fake_monolith, settings):
    settings.MONOLITH_API_TOKEN = "wrong"
    response = api_client.get("/api/catalogue/departments/")
    assert response.status_code == 503
    assert response.json()["detail"]


def test_cache_redis_too_slow_answers_200_from_the_upstream(api_client, stoppable_cache, fake_monolith):
    user_id = fake_monolith.add_user("vpn")
    api_client.get(f"/api/users/{user_id}/resources/")
    # Every command to the cache now waits 2 s: longer than CACHE_SOCKET_TIMEOUT.
    redis.Redis.from_url(f"{stoppable_cache.url}/0").client_pause(2000)

    response = api_client.get(f"/api/users/{user_id}/resources/")

    assert (response.status_code, response["X-Cache"]) == (200, "miss")
    assert response.json()["resources"][0]["resource"] == "vpn"
    assert counter("cache_errors_total", "resources", op="get") == 1
    assert fake_monolith.calls[f"/api/users/{user_id}/resources/"] == 2


def test_after_a_cache_error_requests_skip_the_cache_for_a_while(
    api_client, stoppable_cache, fake_monolith, settings
):
    settings.CACHE_BYPASS_SECONDS = 600
    user_id = fake_monolith.add_user("vpn")
    stoppable_cache.stop()

    statuses = [api_client.get(f"/api/users/{user_id}/resources/").status_code for _ in range(3)]

    assert statuses == [200, 200, 200]
    assert counter("cache_errors_total", "resources", op="get") == 1
    assert counter("cache_bypassed_total", "resources") == 2
    assert counter("cache_fallthrough_total", "resources") == 3

    settings.CACHE_BYPASS_SECONDS = 0
    read_through.cache_bypass_reset()
    assert api_client.get(f"/api/users/{user_id}/resources/").status_code == 200
    assert counter("cache_errors_total", "resources", op="get") == 2
