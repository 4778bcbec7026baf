"""`/api/users/<uuid>/resources/`: the user's resources from the cache, with `X-Cache: hit|miss`."""

from __future__ import annotations

import uuid

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.views import APIView

from users_service.cached_response import cached_json_response
from users_service.read_through import CachePolicy
from users_service.resources import selectors
from users_service.upstream import UpstreamError, UpstreamNotFound, UpstreamUnavailableError


class GrantOutput(serializers.Serializer):
    resource = serializers.CharField()
    level = serializers.CharField()
    granted_at = serializers.DateTimeField()


class ResourcesOutput(serializers.Serializer):
    """The monolith's representation, as cached."""

    user_id = serializers.UUIDField()
    resources = GrantOutput(many=True)


class UserResourcesApi(APIView):
    @staticmethod
    def cached_entry(user_id: uuid.UUID) -> tuple[CachePolicy, str]:
        """The cache entry a GET answers when it is a hit (users_service/cache_hits.py)."""
        return selectors.resources_entry(user_id=user_id)

    @extend_schema(
        responses={
            200: ResourcesOutput,
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="The monolith has no such employee."),
            503: OpenApiResponse(OpenApiTypes.OBJECT, description="Monolith down and nothing cached."),
        },
        description="The user's resources from the cache (filled from the monolith on a miss); "
        "`X-Cache: hit|miss`.",
    )
    def get(self, request: Request, user_id: str) -> HttpResponseBase:
        try:
            lookup = selectors.resources_for_user(user_id=user_id)
        except UpstreamNotFound:
            raise NotFound("The monolith has no employee with this id.") from None
        except UpstreamError:
            raise UpstreamUnavailableError() from None
        return cached_json_response(request, lookup)
