"""Cache hits answered in front of Django (users_service/cache_hits.py, `CacheHitApplication`): the
same answer as DRF's with the security headers, the hit and its latency counted, and everything
the layer leaves alone (a miss, an HTTPS redirect, tracing on) served by Django whole."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from rest_framework.authtoken.models import Token

from tests.users_service.cache.support import counted, start_counting
from users_service.cache_hits import CacheHitApplication
from users_service.ops import metrics

CATALOGUE = "/api/catalogue/departments/"
LATENCY_COUNT = "http_request_duration_seconds_count"


class RecordingDjango(WSGIHandler):
    """Django's WSGI handler, counting the requests that reach it."""

    calls = 0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        self.calls += 1
        return super().__call__(environ, start_response)


@pytest.fixture
def application(settings) -> tuple[CacheHitApplication, RecordingDjango]:
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    django = RecordingDjango()
    return CacheHitApplication(django), django


@pytest.fixture
def token(api_client) -> str:
    return Token.objects.get().key


def get(app: CacheHitApplication, path: str, token: str, *, secure: bool = True, **headers: str):
    """(status, headers, body) of a GET through the WSGI application, over HTTPS by default."""
    environ = (
        RequestFactory().get(path, secure=secure, HTTP_AUTHORIZATION=f"Token {token}", **headers).environ
    )
    environ["PATH_INFO"] = path.encode().decode("latin-1")  # as a server puts it (PEP 3333)
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list, exc_info: Any = None) -> None:
        answer.update(status=int(status.split()[0]), headers=dict(response_headers))

    chunks = app(environ, start_response)
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    answer["headers"].pop("traceresponse", None)  # each request's own trace
    return answer["status"], answer["headers"], body


def test_a_hit_is_answered_in_front_of_django_as_django_answers_it(
    application, token, cache_redis, fake_monolith, settings
):
    app, django = application
    user_id = fake_monolith.add_user("vpn", "wiki")
    path = f"/api/users/{user_id}/resources/"
    get(app, path, token)  # a miss: Django fills, and validates the token
    settings.CACHE_FAST_HITS = False
    through_django = get(app, path, token)
    settings.CACHE_FAST_HITS = True
    calls = django.calls
    start_counting()

    fast = get(app, path, token)

    assert django.calls == calls
    assert fast == through_django
    assert fast[1]["X-Cache"] == "hit"
    assert fast[1]["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware's headers
    assert counted()[metrics.series("cache_hits_total", {"cache": "resources"})] == 1
    route = {"view": "user-resources", "method": "GET", "status": "200"}
    assert counted()[metrics.series(LATENCY_COUNT, route)] == 1


def test_a_request_to_redirect_to_https_gets_djangos_redirect(
    application, token, cache_redis, fake_monolith, settings
):
    settings.SECURE_SSL_REDIRECT = True
    app = CacheHitApplication(RecordingDjango())
    get(app, CATALOGUE, token)  # fills, and validates the token

    status, headers, _ = get(app, CATALOGUE, token, secure=False)

    assert status == 301
    assert headers["Location"] == f"https://testserver{CATALOGUE}"
    assert get(app, CATALOGUE, token)[1]["X-Cache"] == "hit"


def test_with_tracing_on_a_hit_is_answered_inside_django(
    application, token, cache_redis, fake_monolith, settings
):
    app, django = application
    get(app, CATALOGUE, token)
    settings.OTEL_ENABLED = True
    calls = django.calls

    status, headers, _ = get(app, CATALOGUE, token)

    assert django.calls == calls + 1
    assert (status, headers["X-Cache"]) == (200, "hit")


def test_a_miss_goes_to_django_and_each_request_is_throttled_once(
    application, token, cache_redis, fake_monolith, settings
):
    settings.REST_FRAMEWORK = settings.REST_FRAMEWORK | {
        "DEFAULT_THROTTLE_RATES": {"anon": "60/min", "user": "3/min"}
    }
    app, django = application

    answers = [get(app, CATALOGUE, token) for _ in range(4)]

    assert [status for status, _, _ in answers] == [200, 200, 200, 429]
    assert [headers.get("X-Cache") for _, headers, _ in answers[:3]] == ["miss", "hit", "hit"]
    assert 0 <= int(answers[3][1]["Retry-After"]) <= 60
    assert django.calls == 2  # the miss, and the refused request (DRF's 429)
    counters = redis.Redis.from_url(cache_redis).keys("*throttle*")
    assert len(counters) == 1
    assert int(redis.Redis.from_url(cache_redis).get(counters[0])) == 4


def test_a_path_only_django_can_answer_gets_djangos_answer(application, token, cache_redis, fake_monolith):
    app, django = application
    path = "/api/catalogue/\u20ac/"  # not Latin-1 once decoded, as the WSGI environ carries it

    assert get(app, path, token)[0] == get(django, path, token)[0] == 404
