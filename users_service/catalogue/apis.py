"""`/api/catalogue/<kind>/`: a cached catalogue, with `X-Cache: hit|miss`."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events.types import CATALOGUE_KINDS
from users_service.catalogue import selectors
from users_service.upstream import UpstreamUnavailable, UpstreamUnavailableError


class CatalogueApi(APIView):
    def get(self, request: Request, kind: str) -> Response:
        if kind not in CATALOGUE_KINDS:
            raise NotFound(f"Unknown catalogue {kind!r}; known: {', '.join(CATALOGUE_KINDS)}.")
        try:
            lookup = selectors.catalogue_entries(kind=kind)
        except UpstreamUnavailable:
            raise UpstreamUnavailableError() from None
        body = {"kind": kind, "count": len(lookup.value), "results": lookup.value}
        return Response(body, headers={"X-Cache": lookup.cache_status})
