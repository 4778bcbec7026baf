"""`/api/users/<uuid>/resources/`: the deliberately slow read (RESOURCES_LATENCY_MS); grants and revokes
need staff or the `resources` model permissions (`add_resourcegrant`, `delete_resourcegrant`)."""

from __future__ import annotations

import time

from django.conf import settings
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from events.representations import RESOURCE_GRANT, USER_RESOURCES
from hr_monolith.people.models import User
from hr_monolith.resources import selectors, services
from hr_monolith.resources.models import AccessLevel, ResourceGrant, resource_code_validator
from shared_settings.serializers import output_serializer

NO_EMPLOYEE = OpenApiResponse(description="No employee with this id.")


GrantOutput = output_serializer("GrantOutput", RESOURCE_GRANT)
ResourcesOutput = output_serializer("ResourcesOutput", USER_RESOURCES, resources=GrantOutput)


class GrantInput(serializers.Serializer):
    resource = serializers.CharField(max_length=64, validators=[resource_code_validator])
    level = serializers.ChoiceField(choices=AccessLevel.choices, default=AccessLevel.READ)


def _resources_body(user_id: str) -> dict:
    try:
        grants = selectors.resources_for_user(user_id=user_id)
    except User.DoesNotExist:
        raise NotFound("No employee with this id.") from None
    return {"user_id": str(user_id), "resources": GrantOutput(grants, many=True).data}


class UserResourcesApi(APIView):
    queryset = ResourceGrant.objects.all()

    @extend_schema(
        responses={200: ResourcesOutput, 404: NO_EMPLOYEE},
        description="Slow on purpose: RESOURCES_LATENCY_MS.",
    )
    def get(self, request: Request, user_id: str) -> Response:
        # Stands in for the real entitlement system, which takes this long to answer.
        time.sleep(settings.RESOURCES_LATENCY_MS / 1000)
        return Response(_resources_body(user_id))

    @extend_schema(
        request=GrantInput,
        responses={201: ResourcesOutput, 400: OpenApiResponse(description="Field errors."), 404: NO_EMPLOYEE},
    )
    def post(self, request: Request, user_id: str) -> Response:
        data = GrantInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.resource_grant(user_id=user_id, **data.validated_data)
        except User.DoesNotExist:
            raise NotFound("No employee with this id.") from None
        return Response(_resources_body(user_id), status=status.HTTP_201_CREATED)


class UserResourceDetailApi(APIView):
    queryset = ResourceGrant.objects.all()

    @extend_schema(responses={204: None, 404: NO_EMPLOYEE})
    def delete(self, request: Request, user_id: str, resource: str) -> Response:
        try:
            revoked = services.resource_revoke(user_id=user_id, resource=resource)
        except User.DoesNotExist:
            raise NotFound("No employee with this id.") from None
        if not revoked:
            raise NotFound("This employee has no grant of this resource.")
        return Response(status=status.HTTP_204_NO_CONTENT)
