"""The cache hit path before DRF (users_service/cache_hits.py): a hit is answered without the view,
with the headers DRF's answer has; everything else is DRF's own answer (401, 429 with Retry-After,
a miss after an invalidation), and no request is counted twice by the throttle."""

from __future__ import annotations

import pytest
import redis
from django.core.cache import cache
from rest_framework.test import APIClient

from events import tracecontext
from tests.users_service.cache.support import counted, start_counting
from users_service import cache_keys
from users_service.catalogue.apis import CatalogueApi
from users_service.catalogue.services import catalogue_invalidate
from users_service.ops import metrics
from users_service.resources.apis import UserResourcesApi

CATALOGUE = "/api/catalogue/departments/"
LATENCY_COUNT = "http_request_duration_seconds_count"


@pytest.fixture
def remembered(settings):
    settings.TOKEN_AUTH_CACHE_SECONDS = 60


def views_must_not_run(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("the view ran for a cache hit")

    monkeypatch.setattr(CatalogueApi, "get", refuse)
    monkeypatch.setattr(UserResourcesApi, "get", refuse)


def answer(response) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body; `traceresponse` names each request's own trace, so it always differs."""
    headers = {name: value for name, value in response.headers.items() if name != "traceresponse"}
    return response.status_code, headers, response.content


def test_a_hit_is_answered_before_drf_as_drf_answers_it(
    api_client, cache_redis, fake_monolith, remembered, settings, monkeypatch
):
    user_id = fake_monolith.add_user("vpn")
    paths = [CATALOGUE, f"/api/users/{user_id}/resources/"]
    for path in paths:
        assert api_client.get(path)["X-Cache"] == "miss"  # DRF fills, and validates the token
    settings.CACHE_FAST_HITS = False
    through_drf = [answer(api_client.get(path)) for path in paths]

    settings.CACHE_FAST_HITS = True
    views_must_not_run(monkeypatch)
    fast = [answer(api_client.get(path)) for path in paths]

    assert fast == through_drf
    assert [headers["X-Cache"] for _, headers, _ in fast] == ["hit", "hit"]
    assert fast[1][2] == cache.get(cache_keys.resources(user_id))


@pytest.mark.parametrize("credentials", [{}, {"HTTP_AUTHORIZATION": "Token not-a-token"}])
def test_without_a_valid_token_the_answer_is_drfs_401(
    db, cache_redis, fake_monolith, remembered, settings, credentials
):
    client = APIClient()
    cache.set(cache_keys.catalogue("departments"), b'{"kind": "departments"}')
    fast = answer(client.get(CATALOGUE, **credentials))
    settings.CACHE_FAST_HITS = False
    through_drf = answer(client.get(CATALOGUE, **credentials))

    assert fast[0] == 401
    assert fast == through_drf


def test_a_throttled_hit_gets_429_with_retry_after_and_each_request_counts_once(
    api_client, cache_redis, fake_monolith, remembered, settings
):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "3/min"}
    }
    statuses = [api_client.get(CATALOGUE) for _ in range(4)]

    assert [r.status_code for r in statuses] == [200, 200, 200, 429]
    assert [r.get("X-Cache") for r in statuses[:3]] == ["miss", "hit", "hit"]
    assert 0 <= int(statuses[3]["Retry-After"]) <= 60
    assert statuses[3].json() == {"detail": statuses[3].json()["detail"]}
    # One counter, counted once per request: by the fast path or by DRF, never both.
    counters = redis.Redis.from_url(cache_redis).keys("*throttle*")
    assert len(counters) == 1
    assert int(redis.Redis.from_url(cache_redis).get(counters[0])) == 4


def test_after_an_invalidation_the_next_answer_is_fresh(
    api_client, cache_redis, fake_monolith, remembered, monkeypatch
):
    api_client.get(CATALOGUE)
    assert api_client.get(CATALOGUE)["X-Cache"] == "hit"
    fake_monolith.catalogues["departments"] = [{"code": "FIN", "name": "Finance", "version": 2}]

    catalogue_invalidate(kind="departments")
    fresh = api_client.get(CATALOGUE)
    again = api_client.get(CATALOGUE)

    assert (fresh["X-Cache"], again["X-Cache"]) == ("miss", "hit")
    assert [entry["code"] for entry in again.json()["results"]] == ["FIN"]


def test_a_query_string_or_another_accept_goes_through_drf(
    api_client, cache_redis, fake_monolith, remembered, monkeypatch
):
    api_client.get(CATALOGUE)
    views_must_not_run(monkeypatch)
    with pytest.raises(AssertionError, match="the view ran"):
        api_client.get(CATALOGUE + "?format=json")
    with pytest.raises(AssertionError, match="the view ran"):
        api_client.get(CATALOGUE, HTTP_ACCEPT="text/html")
    assert api_client.get(CATALOGUE)["X-Cache"] == "hit"


def test_with_the_cache_down_the_answer_comes_from_drfs_fall_through(
    api_client, stoppable_cache, fake_monolith, remembered
):
    api_client.get(CATALOGUE)
    stoppable_cache.stop()

    down = api_client.get(CATALOGUE)

    assert (down.status_code, down["X-Cache"]) == (200, "miss")


def test_a_hit_is_timed_under_its_route_and_counted_as_a_hit(
    api_client, cache_redis, fake_monolith, remembered, monkeypatch
):
    user_id = fake_monolith.add_user("vpn")
    api_client.get(f"/api/users/{user_id}/resources/")
    start_counting()
    views_must_not_run(monkeypatch)

    assert api_client.get(f"/api/users/{user_id}/resources/")["X-Cache"] == "hit"

    timed = counted()
    assert timed[metrics.series("cache_hits_total", {"cache": "resources"})] == 1
    assert (
        timed[metrics.series(LATENCY_COUNT, {"view": "user-resources", "method": "GET", "status": "200"})]
        == 1
    )
    assert (
        timed.get(metrics.series(LATENCY_COUNT, {"view": "unmatched", "method": "GET", "status": "200"}), 0)
        == 0
    )


def test_a_hit_names_its_trace_in_the_callers_trace(
    api_client, cache_redis, fake_monolith, remembered, monkeypatch
):
    api_client.get(CATALOGUE)
    views_must_not_run(monkeypatch)
    caller = tracecontext.TraceParent.new()

    in_trace = api_client.get(CATALOGUE, HTTP_TRACEPARENT=str(caller))
    own = api_client.get(CATALOGUE)

    assert (in_trace["X-Cache"], own["X-Cache"]) == ("hit", "hit")
    answered = tracecontext.TraceParent.parse(in_trace["traceresponse"])
    assert answered.trace_id == caller.trace_id
    assert answered.span_id != caller.span_id
    new_trace = tracecontext.TraceParent.parse(own["traceresponse"])
    assert new_trace is not None
    assert new_trace.trace_id != caller.trace_id


def test_a_host_not_allowed_gets_djangos_400(api_client, cache_redis, fake_monolith, remembered, monkeypatch):
    api_client.get(CATALOGUE)
    views_must_not_run(monkeypatch)

    assert api_client.get(CATALOGUE, HTTP_HOST="evil.example").status_code == 400
