"""The cache hit path, before Django's URL dispatch and DRF: a middleware that answers a GET of a
cached endpoint from the stored body when everything a hit needs is at hand in this process.

A hit under DRF cost 0.6 to 0.9 ms of CPU, mostly the framework's own work (request wrapping,
authenticator and throttle objects, content negotiation, response finalising) around one Redis
`GET`. Here a hit is: the token found in this process's memory of validated tokens
(`authentication.remembered`), the cache entry read and the throttle counted in one pipelined
round trip, and the stored bytes answered with the headers DRF's answer has.

Anything else goes on to DRF unchanged: no or an unknown token (DRF answers 401 or validates it and
remembers it), a session login, a query string, an `Accept` other than JSON (the browsable API), a
miss, an undecodable entry, a cache error or a cache in its bypass window. A request counted by the
throttle here carries its count on to DRF (`throttling.PRECOUNTED`), so it is never counted twice:
a refused one gets DRF's own 429 with `Retry-After`.

The same hit is answered at two depths. `CacheHitApplication` wraps the service's WSGI application
and answers it before Django's request handling (its signals, the middleware chain, the response
conversion: about a tenth of a hit's CPU under gunicorn, `python -m bench._hit_layers`) as a plain
WSGI answer: no request or response object, the status line and headers prepared once
(`SecurityMiddleware`'s included, taken from the middleware itself) with only the length and the
trace filled in per hit, and the latency histogram observed under the route's name.
`CacheHitMiddleware` answers it inside Django, for the requests the WSGI layer leaves alone: every
request while OpenTelemetry is on (its Django middleware records a span of each request) and the
test client's (which has no WSGI layer).

Both find the cached routes in a table built once from the URLconf (`cached_routes`), not with
`django.urls.resolve` per hit; the table, the Redis client and the prepared headers are built again
after any settings change (`setting_changed`: tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import DisallowedHost
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.security import SecurityMiddleware
from django.urls import URLPattern, get_resolver
from django.urls.resolvers import ResolverMatch
from django_redis import get_redis_connection

from shared_settings.http_metrics import request_latency
from shared_settings.middleware import TRACERESPONSE, caller_trace, request_trace
from users_service import authentication, read_through, throttling
from users_service.ops import metrics
from users_service.read_through import CACHE_ERRORS, UNDECODABLE, CachePolicy

log = logging.getLogger(__name__)

#: `Accept` headers DRF answers with its JSON renderer (the first renderer): none, any, JSON.
JSON_ACCEPTS = frozenset({"", "*/*", "application/json"})
#: What DRF's `APIView.finalize_response` adds to the answer of a GET-only view.
ALLOW = "GET, HEAD, OPTIONS"
#: In the environ of a request `CacheHitApplication` did not answer: not to be tried (and its
#: throttle counted) a second time inside Django.
TRIED = "users_service.cache_hit_tried"
#: The status line of every hit.
OK = "200 OK"


@dataclass(frozen=True)
class _ThrottleRequest:
    """What DRF's throttles read of a request: the user and the WSGI environ."""

    user: Any
    META: Mapping[str, Any]


def remembered_caller(meta: Mapping[str, Any]) -> tuple[Any, Any] | None:
    """(user, token) of a request that may be a hit, read from its WSGI environ (`request.META`):
    a GET with no query string, accepting JSON, with a token this process remembers, while the cache
    is not bypassed; else None. Nothing else is looked at for a request that cannot be a hit."""
    if meta.get("REQUEST_METHOD") != "GET" or meta.get("QUERY_STRING"):
        return None
    if meta.get("HTTP_ACCEPT", "") not in JSON_ACCEPTS:
        return None
    credentials = meta.get("HTTP_AUTHORIZATION", "").split()
    if len(credentials) != 2 or credentials[0].lower() != "token" or read_through.cache_bypassed():
        return None
    return authentication.remembered(credentials[1])


@dataclass(frozen=True)
class CachedRoute:
    """A route of the URLconf whose view names the cache entry a GET answers (`cached_entry`)."""

    view_name: str
    #: What Django's `ResolverMatch` of the route is built from (CacheHitMiddleware).
    pattern: URLPattern
    cached_entry: Callable[..., tuple[CachePolicy, str] | None]
    default_args: dict[str, Any]
    throttles: tuple[throttling.FixedWindowFailOpen, ...]
    #: The latency histogram's series of this route's hits.
    latency: Any


@dataclass(frozen=True)
class _Table:
    """What a hit needs that only changes with the settings: built at the first hit, and again
    after a settings change."""

    #: The URLconf's routes in its order, up to the last cached one: (its regex's `search`, its
    #: pattern, its CachedRoute or None for a route not answered here: a path whose regex it
    #: matches goes to Django).
    routes: tuple[tuple[Callable[[str], Any], Any, CachedRoute | None], ...]
    redis: Any
    make_key: Callable[[str], str]
    decode: Callable[[bytes], Any]
    ssl_redirect: bool
    #: Per `is_secure()`: the hit's headers, with placeholders for its length and trace.
    headers: dict[bool, list[tuple[str, str]]]
    length_at: int
    trace_at: int
    #: (cache name) -> its hit counter's series.
    hit_counters: dict[str, Any]
    #: What `get_host()` read of the requests whose host it allowed.
    allowed_hosts: set[tuple[Any, ...]]


_table: _Table | None = None


@receiver(setting_changed, dispatch_uid="users_service.cache_hits.forget_table")
def _forget_table(**kwargs: Any) -> None:
    global _table
    _table = None


def _cached_route(pattern: Any) -> CachedRoute | None:
    if not isinstance(pattern, URLPattern):
        return None
    view_class = getattr(pattern.callback, "view_class", None)
    cached_entry = getattr(view_class, "cached_entry", None)
    if cached_entry is None:
        return None
    throttles = tuple(throttle() for throttle in view_class.throttle_classes)
    if not all(isinstance(throttle, throttling.FixedWindowFailOpen) for throttle in throttles):
        return None
    # The name the histogram labels the route's answers with under Django (ResolverMatch.view_name).
    view_name = ResolverMatch(pattern.callback, (), {}, url_name=pattern.name).view_name
    return CachedRoute(
        view_name=view_name,
        pattern=pattern,
        cached_entry=cached_entry,
        default_args=dict(pattern.default_args),
        throttles=throttles,
        latency=request_latency(view_name, "GET", 200),
    )


class _Secure:
    """A request that is only asked whether it came over HTTPS (SecurityMiddleware.process_response)."""

    def __init__(self, secure: bool) -> None:
        self.secure = secure

    def is_secure(self) -> bool:
        return self.secure


def hit_response(body: bytes, trace: str) -> HttpResponse:
    """A hit's answer as DRF's view gives it (before the middleware above it adds theirs)."""
    return HttpResponse(
        body,
        content_type="application/json",
        headers={
            "X-Cache": read_through.HIT,
            "Vary": "Accept",
            "Allow": ALLOW,
            "X-Frame-Options": settings.X_FRAME_OPTIONS,
            "Content-Length": str(len(body)),
            TRACERESPONSE: trace,
        },
    )


def _headers(security: SecurityMiddleware, secure: bool) -> list[tuple[str, str]]:
    """The headers of a hit over HTTPS or not, SecurityMiddleware's included (from the middleware
    itself, for the current settings), with placeholders for the length and the trace."""
    return list(security.process_response(_Secure(secure), hit_response(b"", "")).items())


def _build_table() -> _Table:
    routes: list[tuple[Callable[[str], Any], Any, CachedRoute | None]] = []
    for pattern in get_resolver().url_patterns:
        routes.append((pattern.pattern.regex.search, pattern.pattern, _cached_route(pattern)))
    while routes and routes[-1][2] is None:
        routes.pop()
    cache = caches["default"]
    security = SecurityMiddleware(_never_called)
    headers = {secure: _headers(security, secure) for secure in (False, True)}
    names = [name for name, _ in headers[True]]
    return _Table(
        routes=tuple(routes),
        redis=get_redis_connection("default"),
        make_key=cache.make_key,
        decode=cache.client.decode,
        ssl_redirect=security.redirect,
        headers=headers,
        # SecurityMiddleware only adds headers after the view's.
        length_at=names.index("Content-Length"),
        trace_at=names.index(TRACERESPONSE),
        hit_counters={},
        allowed_hosts=set(),
    )


def cached_routes() -> _Table:
    """The table of the cached routes and what their hits need (built once per settings)."""
    global _table
    table = _table
    if table is None:
        table = _table = _build_table()
    return table


def match_route(table: _Table, path_info: str) -> tuple[CachedRoute, dict[str, Any]] | None:
    """The cached route `path_info` resolves to and its arguments, or None: not a cached route, or
    one that a route before the cached ones also matches (Django then decides)."""
    if not path_info.startswith("/"):
        return None
    path = path_info[1:]
    # Only the regexes of the routes before it, in order (not Django's `resolve`: per route and
    # include a match object and a ResolverMatch), then the cached route's converters. Django may
    # answer a path that a route's regex matches from a later route (a converter refuses it, an
    # include has no route for it): such a path goes to Django too.
    for search, pattern, route in table.routes:
        if search(path) is not None:
            matched = None if route is None else pattern.match(path)
            if matched is None or matched[0]:
                return None
            return route, {**matched[2], **route.default_args}
    return None


def _read_and_count(client: Any, key: str, counters: list[str]) -> list[Any]:
    """`GET key` and `INCR` each counter, in one round trip: what a redis-py pipeline sends, without
    its objects per call and its retry (a connection error sends the request to DRF's path, which
    has them): a third of a hit's CPU in front of Django."""
    pool = client.connection_pool
    connection = pool.get_connection()
    try:
        connection.send_packed_command(
            connection.pack_commands([("GET", key), *(("INCR", c) for c in counters)])
        )
        return [connection.read_response() for _ in range(1 + len(counters))]
    except BaseException:
        # Replies may be left unread on it.
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


@dataclass(frozen=True)
class Hit:
    """A cached body to answer, and the route it was found under."""

    route: CachedRoute
    kwargs: dict[str, Any]
    body: bytes


def find_hit(table: _Table, path_info: str, meta: dict[str, Any], user: Any) -> Hit | None:
    """The hit a GET of `path_info` by `user` is (see the module doc), or None. The throttle counts
    taken on the way are left in `meta` (`throttling.PRECOUNTED`) for DRF."""
    found = match_route(table, path_info)
    if found is None:
        return None
    route, kwargs = found
    entry = route.cached_entry(**kwargs)
    if entry is None:
        return None
    policy, key = entry
    who = _ThrottleRequest(user, meta)
    counted = [
        (throttle, counter) for throttle in route.throttles if (counter := throttle.window_counter(who, None))
    ]
    try:
        raw, *counts = _read_and_count(
            table.redis,
            table.make_key(key),
            [throttling.counter_key(counter_key, table.make_key) for _, (counter_key, _) in counted],
        )
    except CACHE_ERRORS:
        # DRF's path counts and reports the cache error as usual.
        return None
    precounted = meta[throttling.PRECOUNTED] = {
        counter_key: int(count) for (_, (counter_key, _)), count in zip(counted, counts, strict=True)
    }
    try:
        for _, (counter_key, window_seconds) in counted:
            throttling.start_window(table.redis, counter_key, window_seconds, precounted[counter_key])
    except CACHE_ERRORS:
        return None
    if raw is None or not all(
        throttle.allows(precounted[counter_key]) for throttle, (counter_key, _) in counted
    ):
        return None
    try:
        body = table.decode(raw)
    except UNDECODABLE:
        return None
    if not isinstance(body, bytes):
        return None
    hits = table.hit_counters.get(policy.name)
    if hits is None:
        hits = table.hit_counters[policy.name] = metrics.CACHE_HITS.labels(cache=policy.name)
    hits.inc()
    return Hit(route, kwargs, body)


class CacheHitMiddleware:
    """Answers cache hits of the views that name their entry (`cached_entry`); see the module doc.

    Put it right after `SecurityMiddleware` (HTTPS redirect and security headers apply as usual);
    `X-Frame-Options` is set here as `XFrameOptionsMiddleware` would.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if settings.CACHE_FAST_HITS and TRIED not in request.META:
            response = self.hit(request)
            if response is not None:
                return response
        return self.get_response(request)

    def hit(self, request: HttpRequest) -> HttpResponse | None:
        known = remembered_caller(request.META)
        if known is None:
            return None
        table = cached_routes()
        if not _allowed_host(table, request):
            return None
        hit = find_hit(table, request.path_info, request.META, known[0])
        if hit is None:
            return None
        # The latency histogram labels the answer with its route, as it does DRF's.
        pattern = hit.route.pattern
        request.resolver_match = ResolverMatch(
            pattern.callback, (), hit.kwargs, url_name=pattern.name, route=str(pattern.pattern)
        )
        return hit_response(hit.body, str(request_trace(request)))


def _never_called(request: HttpRequest) -> HttpResponseBase:
    raise AssertionError("used for its hooks only")


#: What `HttpRequest.get_host()` reads of the environ.
_HOST_KEYS = ("HTTP_X_FORWARDED_HOST", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "HTTP_X_FORWARDED_PORT")
#: Allowed hosts remembered per settings at most (a Host's port is not checked: each is another).
MAX_ALLOWED_HOSTS = 64


def _allowed_host(table: _Table, request: HttpRequest) -> bool:
    """Whether the request's host is one of `ALLOWED_HOSTS`, as Django's `get_host()` says (once
    per host and settings); Django answers the others (its 400, logged, when CommonMiddleware asks
    for the host)."""
    seen = tuple(map(request.META.get, _HOST_KEYS))
    if seen in table.allowed_hosts:
        return True
    try:
        request.get_host()
    except DisallowedHost:
        return False
    if len(table.allowed_hosts) < MAX_ALLOWED_HOSTS:
        table.allowed_hosts.add(seen)
    return True


class _EnvironRequest(WSGIRequest):
    """Django's own answers to `is_secure()` (`SECURE_PROXY_SSL_HEADER`, then the WSGI scheme) and
    `get_host()` (`ALLOWED_HOSTS`), for an environ, without building the rest of a request."""

    def __init__(self, environ: dict[str, Any]) -> None:
        self.environ = self.META = environ


class CacheHitApplication:
    """The service's WSGI application, with cache hits answered before Django handles the request.

    A hit gets what Django's stack gives it: `SecurityMiddleware`'s headers (a request it would
    redirect to HTTPS goes on to Django instead), the latency observation under its route, and the
    hit's own headers (`hit_response`). Everything else goes to Django unchanged, with any throttle
    count already taken carried in the environ (`throttling.PRECOUNTED`).
    """

    def __init__(self, application: WSGIHandler) -> None:
        self.application = application

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # A request that cannot be a hit goes to Django without anything built for nothing.
        known = remembered_caller(environ) if settings.CACHE_FAST_HITS and not settings.OTEL_ENABLED else None
        if known is not None:
            started = time.perf_counter()
            try:
                answer = self._hit(environ, known[0])
            except Exception:
                # Django's handler would answer this with a 500: let it serve the request whole.
                log.exception("cache hit path failed, the request goes to Django")
                answer = None
            if answer is not None:
                headers, body, latency = answer
                start_response(OK, headers)
                latency.observe(time.perf_counter() - started)
                return [body]
            environ[TRIED] = True
        return self.application(environ, start_response)

    def _hit(self, environ: dict[str, Any], user: Any) -> tuple[list[tuple[str, str]], bytes, Any] | None:
        # Django decodes a path that is not ASCII (PEP 3333's Latin-1) its own way: it answers those.
        path_info = environ.get("PATH_INFO") or "/"
        if not path_info.isascii():
            return None
        request = _EnvironRequest(environ)
        table = cached_routes()
        if not _allowed_host(table, request):
            return None
        secure = request.is_secure()
        if table.ssl_redirect and not secure:
            return None  # Django redirects it (or serves it, if it is exempt)
        hit = find_hit(table, path_info, environ, user)
        if hit is None:
            return None
        headers = table.headers[secure].copy()
        headers[table.length_at] = ("Content-Length", str(len(hit.body)))
        # Never an OpenTelemetry span's here: with tracing on, hits are answered inside Django.
        headers[table.trace_at] = (TRACERESPONSE, str(caller_trace(environ)))
        return headers, hit.body, hit.route.latency
