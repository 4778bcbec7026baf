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
conversion: about a tenth of a hit's CPU under gunicorn, `python -m bench._hit_layers`), with
`SecurityMiddleware`'s own HTTPS rule and headers and the latency histogram's observation.
`CacheHitMiddleware` answers it inside Django, for the requests the WSGI layer leaves alone: every
request while OpenTelemetry is on (its Django middleware records a span of each request) and the
test client's (which has no WSGI layer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.middleware.security import SecurityMiddleware
from django.urls import Resolver404, resolve
from django_redis import get_redis_connection

from shared_settings.http_metrics import observe_request
from shared_settings.middleware import TRACERESPONSE, request_trace
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


@dataclass(frozen=True)
class _ThrottleRequest:
    """What DRF's throttles read of a request: the user and the WSGI environ."""

    user: Any
    META: dict[str, Any]


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
        return None if known is None else self.hit_for(request, known)

    def hit_for(self, request: HttpRequest, known: tuple[Any, Any]) -> HttpResponse | None:
        """`hit` for a request whose `remembered_caller` is `known`."""
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return None
        view_class = getattr(match.func, "view_class", None)
        cached_entry = getattr(view_class, "cached_entry", None)
        if cached_entry is None:
            return None
        # The latency histogram labels the answer with its route, as it does DRF's.
        request.resolver_match = match
        entry = cached_entry(**match.kwargs)
        if entry is None:
            return None
        policy, key = entry
        throttles = [throttle() for throttle in view_class.throttle_classes]
        if not all(isinstance(throttle, throttling.FixedWindowFailOpen) for throttle in throttles):
            return None
        return self._answer(request, policy, key, throttles, _ThrottleRequest(known[0], request.META))

    def _answer(
        self,
        request: HttpRequest,
        policy: CachePolicy,
        key: str,
        throttles: list[throttling.FixedWindowFailOpen],
        who: _ThrottleRequest,
    ) -> HttpResponse | None:
        counted = [
            (throttle, counter) for throttle in throttles if (counter := throttle.window_counter(who, None))
        ]
        try:
            pipe = get_redis_connection("default").pipeline(transaction=False)
            pipe.get(cache.make_key(key))
            for _, (counter_key, window_seconds) in counted:
                throttling.count_in_window(pipe, counter_key, window_seconds)
            raw, *counts = pipe.execute()
        except CACHE_ERRORS:
            # DRF's path counts and reports the cache error as usual.
            return None
        request.META[throttling.PRECOUNTED] = {
            counter_key: int(count) for (_, (counter_key, _)), count in zip(counted, counts[::2], strict=True)
        }
        if raw is None or not all(
            throttle.allows(request.META[throttling.PRECOUNTED][counter_key])
            for throttle, (counter_key, _) in counted
        ):
            return None
        try:
            body = cache.client.decode(raw)
        except UNDECODABLE:
            return None
        if not isinstance(body, bytes):
            return None
        metrics.CACHE_HITS.labels(cache=policy.name).inc()
        response = HttpResponse(
            body,
            content_type="application/json",
            headers={
                "X-Cache": read_through.HIT,
                "Vary": "Accept",
                "Allow": ALLOW,
                "X-Frame-Options": settings.X_FRAME_OPTIONS,
                "Content-Length": str(len(body)),
                TRACERESPONSE: str(request_trace(request)),
            },
        )
        return response


def _never_called(request: HttpRequest) -> HttpResponseBase:
    raise AssertionError("used for its hooks only")


class CacheHitApplication:
    """The service's WSGI application, with cache hits answered before Django handles the request.

    A hit gets what Django's stack gives it: `SecurityMiddleware`'s headers (a request it would
    redirect to HTTPS goes on to Django instead), the latency observation under its route, and the
    hit's own headers (`CacheHitMiddleware.hit`). Everything else goes to Django unchanged, with
    any throttle count already taken carried in the environ (`throttling.PRECOUNTED`).
    """

    def __init__(self, application: WSGIHandler) -> None:
        self.application = application
        self.security = SecurityMiddleware(_never_called)
        self.hits = CacheHitMiddleware(_never_called)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        # A request that cannot be a hit goes to Django without a request object built for nothing.
        known = remembered_caller(environ) if settings.CACHE_FAST_HITS and not settings.OTEL_ENABLED else None
        if known is not None:
            started = time.perf_counter()
            # On a copy: WSGIRequest writes the decoded path into the environ it is given, which
            # Django's own request of the same environ could no longer decode.
            request = WSGIRequest(dict(environ))
            try:
                response = (
                    None if self.security.process_request(request) else self.hits.hit_for(request, known)
                )
            except Exception:
                # Django's handler would answer this with a 500: let it serve the request whole.
                log.exception("cache hit path failed, the request goes to Django")
                response = None
            if response is not None:
                self.security.process_response(request, response)
                observe_request(request, response, started)
                start_response(f"{response.status_code} {response.reason_phrase}", list(response.items()))
                return [response.content]
            environ[TRIED] = True
            if throttling.PRECOUNTED in request.META:
                environ[throttling.PRECOUNTED] = request.META[throttling.PRECOUNTED]
        return self.application(environ, start_response)
