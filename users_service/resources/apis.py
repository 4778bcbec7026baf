"""`/api/users/<uuid>/resources/`: the user's resources from the cache, with `X-Cache: hit|miss`."""

from __future__ import annotations

import uuid

from django.http.response import HttpResponseBase
from rest_framework.request import Request
from rest_framework.views import APIView

from events.representations import RESOURCE_GRANT, USER_RESOURCES
from shared_settings.serializers import output_serializer
from users_service.cached_response import cached_endpoint_schema, cached_upstream_response
from users_service.read_through import CachePolicy
from users_service.resources import selectors

GrantOutput = output_serializer("GrantOutput", RESOURCE_GRANT)
ResourcesOutput = output_serializer(
    "ResourcesOutput",
    USER_RESOURCES,
    description="The monolith's representation, as cached.",
    resources=GrantOutput,
)


class UserResourcesApi(APIView):
    @staticmethod
    def cached_entry(user_id: uuid.UUID) -> tuple[CachePolicy, str]:
        """The cache entry a GET answers when it is a hit (users_service/cache_hits.py)."""
        return selectors.resources_entry(user_id=user_id)

    @cached_endpoint_schema(
        what="The user's resources", output=ResourcesOutput, not_found="The monolith has no such employee."
    )
    def get(self, request: Request, user_id: str) -> HttpResponseBase:
        return cached_upstream_response(
            request,
            lambda: selectors.resources_for_user(user_id=user_id),
            not_found="The monolith has no employee with this id.",
        )
