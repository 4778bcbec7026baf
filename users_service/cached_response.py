"""JSON bodies as the cached endpoints store and serve them.

A cache entry holds the exact bytes of the API's JSON answer, rendered once when it is filled,
so that a hit is sent as is: no decoding of the cached value, no serializer, no re-rendering.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.http.response import HttpResponseBase
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from users_service.read_through import Lookup

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
