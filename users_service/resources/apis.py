"""`/api/users/<uuid>/resources/`: the user's resources from the cache, with `X-Cache: hit|miss`."""

from __future__ import annotations

from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users_service.resources import selectors
from users_service.upstream import UpstreamNotFound, UpstreamUnavailable, UpstreamUnavailableError


class UserResourcesApi(APIView):
    def get(self, request: Request, user_id: str) -> Response:
        try:
            lookup = selectors.resources_for_user(user_id=user_id)
        except UpstreamNotFound:
            raise NotFound("The monolith has no employee with this id.") from None
        except UpstreamUnavailable:
            raise UpstreamUnavailableError() from None
        return Response(lookup.value, headers={"X-Cache": lookup.cache_status})
