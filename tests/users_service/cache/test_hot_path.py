"""What makes a cache hit cheap, and what it must not cost in behaviour: the stored JSON body
served as is, remembered tokens (revocation within TOKEN_AUTH_CACHE_SECONDS), fixed-window
throttling counted exactly under concurrency, and hit counters that cost no round trip."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.test import APIClient

from tests.users_service.cache.support import counter
from users_service import authentication, cache_keys
from users_service.authentication import CachedTokenAuthentication
from users_service.throttling import requests_in_window


@pytest.fixture
def token(db) -> Token:
    return Token.objects.create(user=get_user_model().objects.create_user("reader", password="x"))


# --- the cached JSON body -----------------------------------------------------------------


def test_a_hit_serves_the_stored_body_byte_for_byte(api_client, cache_redis, fake_monolith):
    user_id = fake_monolith.add_user("vpn", "wiki")
    miss = api_client.get(f"/api/users/{user_id}/resources/")
    hit = api_client.get(f"/api/users/{user_id}/resources/")

    assert (miss["X-Cache"], hit["X-Cache"]) == ("miss", "hit")
    assert hit.content == miss.content == cache.get(cache_keys.resources(user_id))
    assert hit["Content-Type"] == "application/json"
    assert hit.json() == {"user_id": user_id, "resources": fake_monolith.resources[user_id]}


def test_a_hit_still_renders_the_browsable_api_for_a_browser(api_client, cache_redis, fake_monolith):
    api_client.get("/api/catalogue/departments/")
    page = api_client.get("/api/catalogue/departments/", HTTP_ACCEPT="text/html")

    assert (page.status_code, page["X-Cache"]) == (200, "hit")
    assert page["Content-Type"].startswith("text/html")
    assert "Engineering" in page.content.decode()


# --- remembered tokens ----------------------------------------------------------------------


def test_a_remembered_token_costs_no_database_query(token, django_assert_num_queries, settings):
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    auth = CachedTokenAuthentication()
    with django_assert_num_queries(1):
        auth.authenticate_credentials(token.key)
    with django_assert_num_queries(0):
        user, remembered = auth.authenticate_credentials(token.key)
    assert (user.username, remembered.key) == ("reader", token.key)


def test_a_revoked_token_stops_working_when_its_memory_expires(token, settings, monkeypatch):
    settings.TOKEN_AUTH_CACHE_SECONDS = 5
    now = [1000.0]
    monkeypatch.setattr(authentication.time, "monotonic", lambda: now[0])
    auth = CachedTokenAuthentication()
    auth.authenticate_credentials(token.key)
    # Revoked by another process: plain SQL, so no delete signal reaches this process's memory.
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {Token._meta.db_table} WHERE key = %s", [token.key])

    now[0] += 4.9
    assert auth.authenticate_credentials(token.key)[1].key == token.key
    now[0] += 0.2
    with pytest.raises(AuthenticationFailed):
        auth.authenticate_credentials(token.key)


def test_a_token_deleted_in_this_process_is_forgotten_at_once(token, settings):
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/users/").status_code == 200

    token.delete()

    assert client.get("/api/users/").status_code == 401


def test_unknown_tokens_are_not_remembered(db, settings):
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    with pytest.raises(AuthenticationFailed):
        CachedTokenAuthentication().authenticate_credentials("not-a-token")
    assert "not-a-token" not in authentication._remembered


# --- throttling -------------------------------------------------------------------------------


def test_concurrent_requests_of_one_client_are_all_counted(redis_url):
    key = cache_keys.throttle("throttle_user_1", 42)
    barrier = threading.Barrier(20)

    def one_request(_: int) -> int:
        barrier.wait()
        return requests_in_window(key, 60)

    with ThreadPoolExecutor(20) as pool:
        counts = sorted(pool.map(one_request, range(20)))

    assert counts == list(range(1, 21))


def test_a_windows_counter_expires_after_its_window(redis_url):
    key = cache_keys.throttle("throttle_user_2", 43)

    counts = [requests_in_window(key, 60) for _ in range(3)]

    assert counts == [1, 2, 3]
    assert 0 < cache.ttl(key) <= 61


@pytest.mark.parametrize("fast_hits", [True, False])
def test_the_first_hit_of_a_window_sets_its_counters_expiry(api_client, cache_redis, settings, fast_hits):
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    settings.CACHE_FAST_HITS = fast_hits
    CachedTokenAuthentication().authenticate_credentials(Token.objects.get().key)  # remembered
    cache.set(cache_keys.catalogue("departments"), b'{"kind": "departments"}')

    answers = [api_client.get("/api/catalogue/departments/") for _ in range(2)]

    assert [a["X-Cache"] for a in answers] == ["hit", "hit"]
    cache_redis_client = redis.Redis.from_url(cache_redis)
    [counter_key] = cache_redis_client.keys("*throttle*")
    assert int(cache_redis_client.get(counter_key)) == 2
    assert 0 < cache_redis_client.ttl(counter_key) <= 61


def test_a_throttled_answer_says_when_to_retry(api_client, settings):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "1/min"}
    }
    assert api_client.get("/api/users/").status_code == 200
    refused = api_client.get("/api/users/")
    assert refused.status_code == 429
    assert 0 <= int(refused["Retry-After"]) <= 60


# --- hit counters ------------------------------------------------------------------------------


def test_hits_are_counted_in_the_process_with_no_round_trip(api_client, cache_redis, fake_monolith):
    for _ in range(3):
        api_client.get("/api/catalogue/departments/")
    cache_redis_client = redis.Redis.from_url(cache_redis)
    commands_before = cache_redis_client.info("stats")["total_commands_processed"]

    api_client.get("/api/catalogue/departments/")

    # The body's GET and the throttle's INCR (one pipelined round trip, see
    # users_service/cache_hits.py) and this INFO: the hit's count costs no command.
    commands = cache_redis_client.info("stats")["total_commands_processed"] - commands_before
    assert counter("cache_hits_total", "catalogue") == 3
    assert commands <= 3
