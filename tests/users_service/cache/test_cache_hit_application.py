"""Cache hits answered in front of Django (users_service/cache_hits.py, `CacheHitApplication`): the
same answer as DRF's with the security headers, the hit and its latency counted, and everything
the layer leaves alone (a miss, an HTTPS redirect, tracing on) served by Django whole."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import redis
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import path as route
from rest_framework.authtoken.models import Token

from events import tracecontext
from tests.users_service.cache.support import counted, start_counting
from users_service import cache_keys
from users_service.cache_hits import CacheHitApplication, cached_routes, match_route
from users_service.ops import metrics
from users_service.urls import urlpatterns as service_urlpatterns

CATALOGUE = "/api/catalogue/departments/"
LATENCY_COUNT = "http_request_duration_seconds_count"


def shadowing_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(b"shadowed")


#: A URLconf (tests set ROOT_URLCONF to this module) whose first route takes a cached route's path.
urlpatterns = [route("api/catalogue/positions/", shadowing_view, name="shadow"), *service_urlpatterns]


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


def full_answer(app: CacheHitApplication, path: str, token: str, **environ: Any):
    """(status line, every header in order, body) of a GET through the WSGI application."""
    answer: dict[str, Any] = {}

    def start_response(status: str, response_headers: list, exc_info: Any = None) -> None:
        answer.update(status=status, headers=response_headers)

    request = RequestFactory().get(path, HTTP_AUTHORIZATION=f"Token {token}", **environ).environ
    chunks = app(request, start_response)
    body = b"".join(chunks)
    getattr(chunks, "close", lambda: None)()
    headers = [(name, value) for name, value in answer["headers"] if name != "traceresponse"]
    assert [name for name, _ in answer["headers"]].count("traceresponse") == 1
    return answer["status"], sorted(headers), body


SECURITY_SETTINGS = {
    "defaults": ({}, {"secure": True}),
    "over plain HTTP": ({}, {}),
    "HSTS over HTTPS": (
        {"SECURE_HSTS_SECONDS": 600, "SECURE_HSTS_PRELOAD": False, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True},
        {"secure": True},
    ),
    "HSTS, HTTPS said by the proxy": (
        {"SECURE_HSTS_SECONDS": 600, "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")},
        {"HTTP_X_FORWARDED_PROTO": "https"},
    ),
    "HSTS, HTTP said by the proxy": (
        {"SECURE_HSTS_SECONDS": 600, "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")},
        {"HTTP_X_FORWARDED_PROTO": "http", "secure": True},
    ),
    "other policies": (
        {
            "SECURE_REFERRER_POLICY": "no-referrer, strict-origin",
            "SECURE_CROSS_ORIGIN_OPENER_POLICY": None,
            "SECURE_CONTENT_TYPE_NOSNIFF": False,
            "X_FRAME_OPTIONS": "SAMEORIGIN",
        },
        {"secure": True},
    ),
}


@pytest.mark.parametrize("case", SECURITY_SETTINGS)
def test_a_hit_has_every_header_and_byte_of_djangos_answer(token, cache_redis, fake_monolith, settings, case):
    overrides, request = SECURITY_SETTINGS[case]
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    settings.SECURE_SSL_REDIRECT = False
    for name, value in overrides.items():
        setattr(settings, name, value)
    # Django's middleware read the settings when its handler is built: after the overrides.
    django = RecordingDjango()
    app = CacheHitApplication(django)
    paths = [CATALOGUE, f"/api/users/{fake_monolith.add_user('vpn')}/resources/"]
    for path in paths:
        full_answer(app, path, token, **request)  # a miss: Django fills, and validates the token
    settings.CACHE_FAST_HITS = False
    through_django = [full_answer(app, path, token, **request) for path in paths]
    settings.CACHE_FAST_HITS = True
    calls = django.calls

    fast = [full_answer(app, path, token, **request) for path in paths]

    assert django.calls == calls
    assert fast == through_django
    assert all(("X-Cache", "hit") in headers for _, headers, _ in fast)


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


def test_the_cached_routes_are_the_urlconfs_with_its_converters():
    table = cached_routes()
    user_id = uuid.uuid4()

    catalogue = match_route(table, CATALOGUE)
    resources = match_route(table, f"/api/users/{user_id}/resources/")

    assert catalogue is not None
    assert resources is not None
    assert (catalogue[0].view_name, catalogue[1]) == ("catalogue", {"kind": "departments"})
    assert (resources[0].view_name, resources[1]) == ("user-resources", {"user_id": user_id})
    # Django's uuid converter takes lower case only.
    upper = f"/api/users/{str(user_id).upper()}/resources/"
    for other in ("/api/users/", upper, "/api/users/x/resources/", "/api/catalogue/", "api/catalogue/x/"):
        assert match_route(table, other) is None


def test_a_route_before_the_cached_ones_keeps_its_paths(application, token, cache_redis, settings):
    for kind in ("departments", "positions"):
        cache.set(cache_keys.catalogue(kind), b'{"kind": "%s"}' % kind.encode())
    settings.ROOT_URLCONF = __name__
    app, django = application
    get(app, CATALOGUE, token)  # validates the token
    calls = django.calls

    shadowed = get(app, "/api/catalogue/positions/", token)
    hit = get(app, CATALOGUE, token)

    assert shadowed[2] == b"shadowed"
    assert (hit[1]["X-Cache"], django.calls) == ("hit", calls + 1)


def test_with_the_cache_down_django_answers_from_the_monolith(
    token, stoppable_cache, fake_monolith, settings
):
    settings.TOKEN_AUTH_CACHE_SECONDS = 60
    django = RecordingDjango()
    app = CacheHitApplication(django)
    assert get(app, CATALOGUE, token)[1]["X-Cache"] == "miss"
    assert get(app, CATALOGUE, token)[1]["X-Cache"] == "hit"
    stoppable_cache.stop()

    status, headers, _ = get(app, CATALOGUE, token)

    assert (status, headers["X-Cache"], django.calls) == (200, "miss", 2)


def test_a_hit_in_front_of_django_names_its_trace_in_the_callers_trace(application, token, cache_redis):
    app, _ = application
    cache.set(cache_keys.catalogue("departments"), b'{"kind": "departments"}')
    get(app, CATALOGUE, token)  # validates the token
    caller = tracecontext.TraceParent.new()
    answers = []

    def start_response(status: str, response_headers: list, exc_info: Any = None) -> None:
        answers.append(dict(response_headers))

    for extra in ({"HTTP_TRACEPARENT": str(caller)}, {}):
        environ = RequestFactory().get(CATALOGUE, HTTP_AUTHORIZATION=f"Token {token}", **extra).environ
        app(environ, start_response)

    in_trace, own = (tracecontext.TraceParent.parse(headers["traceresponse"]) for headers in answers)
    assert [headers["X-Cache"] for headers in answers] == ["hit", "hit"]
    assert (in_trace.trace_id, in_trace.span_id != caller.span_id) == (caller.trace_id, True)
    assert own.trace_id != caller.trace_id


def test_a_host_not_allowed_gets_djangos_400(application, token, cache_redis):
    app, django = application
    cache.set(cache_keys.catalogue("departments"), b'{"kind": "departments"}')
    get(app, CATALOGUE, token)  # validates the token
    calls = django.calls

    status, _, _ = get(app, CATALOGUE, token, HTTP_HOST="evil.example")

    assert (status, django.calls) == (400, calls + 1)
