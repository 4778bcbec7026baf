"""JSON bodies as the cached endpoints store and serve them.

A cache entry holds the exact bytes of the API's JSON answer, rendered once when it is filled,
so that a hit is sent as is: no decoding of the cached value, no serializer, no re-rendering.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from users_service.read_through import Lookup
from users_service.upstream import UpstreamError, UpstreamNotFound, UpstreamUnavailableError

_renderer = JSONRenderer()


def json_body(data: Any) -> bytes:
    """`data` rendered exactly as DRF's JSON renderer would answer it."""
    return _renderer.render(data)


def cached_json_response(request: Request, lookup: Lookup) -> HttpResponseBase:
    """The cached body as is when the client negotiated JSON; otherwise DRF renders the decoded
    value (the browsable API still works). `X-Cache` says whether it was a hit."""
    headers = {"X-Cache": lookup.cache_status}
    if request.accepted_renderer.format == "json":
        return HttpResponse(lookup.value, content_type=_renderer.media_type, headers=headers)
    return Response(lookup.json(), headers=headers)


def cached_endpoint_schema(*, what: str, output: type, not_found: str) -> Callable[[Any], Any]:
    """The OpenAPI schema of a cached GET answering `output` (`what` it is, for the description):
    its 404 (`not_found`) and its 503 (`cached_upstream_response`)."""
    return extend_schema(
        responses={
            200: output,
            404: OpenApiResponse(OpenApiTypes.OBJECT, description=not_found),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="Monolith down and nothing cached."),
        },
        description=f"{what} from the cache (filled from the monolith on a miss); `X-Cache: hit|miss`.",
    )


def cached_upstream_response(
    request: Request, lookup: Callable[[], Lookup], *, not_found: str | None = None
) -> HttpResponseBase:
    """The answer of a cached endpoint: `lookup()`'s body (`cached_json_response`); 503 when the
    monolith cannot be reached and nothing is cached; 404 with `not_found` when the monolith says
    the thing does not exist (without `not_found`, that too is a 503)."""
    try:
        found = lookup()
    except UpstreamError as exc:
        if not_found is not None and isinstance(exc, UpstreamNotFound):
            raise NotFound(not_found) from None
        raise UpstreamUnavailableError() from None
    return cached_json_response(request, found)
