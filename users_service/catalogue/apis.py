"""`/api/catalogue/<kind>/`: a cached catalogue, with `X-Cache: hit|miss`."""

from __future__ import annotations

from django.http.response import HttpResponseBase
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from events.types import CATALOGUE_KINDS
from users_service.cached_response import cached_endpoint_schema, cached_upstream_response
from users_service.catalogue import selectors
from users_service.read_through import CachePolicy


class CatalogueEntryOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class CatalogueOutput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CATALOGUE_KINDS)
    count = serializers.IntegerField()
    results = CatalogueEntryOutput(many=True)


class CatalogueApi(APIView):
    @staticmethod
    def cached_entry(kind: str) -> tuple[CachePolicy, str] | None:
        """The cache entry a GET answers when it is a hit (users_service/cache_hits.py); None for
        an unknown kind (the view answers its 404)."""
        if kind not in CATALOGUE_KINDS:
            return None
        return selectors.catalogue_entry(kind=kind)

    @cached_endpoint_schema(what="A catalogue", output=CatalogueOutput, not_found="Unknown catalogue kind.")
    def get(self, request: Request, kind: str) -> HttpResponseBase:
        if kind not in CATALOGUE_KINDS:
            raise NotFound(f"Unknown catalogue {kind!r}; known: {', '.join(CATALOGUE_KINDS)}.")
        return cached_upstream_response(request, lambda: selectors.catalogue_entries(kind=kind))
