"""HTTP latency per view for both services: one histogram, and the middleware that observes it.

The view label is the URL pattern's name (never the path: a path carries user ids and would make a
series per user); a request that matched no route is labelled `unmatched`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from prometheus_client import Histogram

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

HTTP_REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, by view (URL name), method and status code.",
    ["view", "method", "status"],
    buckets=HTTP_BUCKETS,
)


class RequestLatencyMiddleware:
    """First in MIDDLEWARE, so that the time covers every other middleware too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        observe_request(request, response, started)
        return response


def observe_request(request: HttpRequest, response: HttpResponseBase, started: float) -> None:
    """Count `request`'s answer in the histogram: the time since `started` (`time.perf_counter()`),
    labelled with the route `request.resolver_match` names."""
    match = request.resolver_match
    request_latency(
        (match.view_name if match else "") or "unmatched", request.method, response.status_code
    ).observe(time.perf_counter() - started)


def request_latency(view_name: str, method: str | None, status: int) -> Histogram:
    """The histogram's series of the answers with `status` to `method` requests of the route
    `view_name` (a caller that answers one route often may keep it)."""
    return HTTP_REQUEST_SECONDS.labels(
        view=view_name, method=method if method in KNOWN_METHODS else "other", status=str(status)
    )
