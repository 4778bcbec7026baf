"""`/api/users/<uuid>/resources/`: the user's resources from the cache, with `X-Cache: hit|miss`."""

from __future__ import annotations

import uuid

from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.views import APIView

from users_service.cached_response import UPSTREAM_DOWN, cached_upstream_response
from users_service.read_through import CachePolicy
from users_service.resources import selectors


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
            503: UPSTREAM_DOWN,
        },
        description="The user's resources from the cache (filled from the monolith on a miss); "
        "`X-Cache: hit|miss`.",
    )
    def get(self, request: Request, user_id: str) -> HttpResponseBase:
        return cached_upstream_response(
            request,
            lambda: selectors.resources_for_user(user_id=user_id),
            not_found="The monolith has no employee with this id.",
        )
