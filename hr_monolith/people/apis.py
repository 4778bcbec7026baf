"""`/api/users/`: thin DRF views over the people services and selectors.

Each view names its model (`queryset`): a write needs staff or that model's Django permission
(hr_monolith/permissions.py); deactivate and reactivate change the employee, so they need `change`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hr_monolith.catalogue.models import Department, Location, Position
from hr_monolith.pagination import ApiPagination
from hr_monolith.people import selectors, services
from hr_monolith.people.models import User
from hr_monolith.permissions import StaffOrChangePermission


class UserOutput(serializers.Serializer):
    """The user representation; event payloads use the same field names (plus no `version`)."""

    id = serializers.UUIDField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    department = serializers.CharField(source="department.code", allow_null=True, read_only=True)
    position = serializers.CharField(source="position.code", allow_null=True, read_only=True)
    location = serializers.CharField(source="location.code", allow_null=True, read_only=True)
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    is_active = serializers.BooleanField()
    version = serializers.IntegerField()


class UserInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150)
    department = serializers.SlugRelatedField(
        slug_field="code", queryset=Department.objects.all(), required=False, allow_null=True
    )
    position = serializers.SlugRelatedField(
        slug_field="code", queryset=Position.objects.all(), required=False, allow_null=True
    )
    location = serializers.SlugRelatedField(
        slug_field="code", queryset=Location.objects.all(), required=False, allow_null=True
    )
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)

    def validate_email(self, value: str) -> str:
        value = value.strip().lower()
        existing = User.objects.filter(email=value)
        if self.instance is not None:
            existing = existing.exclude(pk=self.instance.pk)
        if existing.exists():
            raise serializers.ValidationError("A user with this email already exists.")
        return value

    def validate(self, attrs: dict) -> dict:
        start = attrs.get("start_date", getattr(self.instance, "start_date", None))
        end = attrs.get("end_date", getattr(self.instance, "end_date", None))
        if start and end and end < start:
            raise serializers.ValidationError({"end_date": ["end_date must not be before start_date."]})
        return attrs


FIELD_ERRORS = OpenApiResponse(description="Field errors: {field: [message, ...]}.")
NOT_FOUND = OpenApiResponse(description="No such user.")


class UserListApi(APIView):
    queryset = User.objects.all()
    # Declared so that the schema shows the paginated envelope and its parameters.
    pagination_class = ApiPagination

    @extend_schema(operation_id="users_list", responses=UserOutput(many=True))
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.user_list(), request, view=self)
        return paginator.get_paginated_response(UserOutput(page, many=True).data)

    @extend_schema(
        operation_id="users_create", request=UserInput, responses={201: UserOutput, 400: FIELD_ERRORS}
    )
    def post(self, request: Request) -> Response:
        data = UserInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_create(**data.validated_data)
        return Response(UserOutput(user).data, status=status.HTTP_201_CREATED)


class UserDetailApi(APIView):
    queryset = User.objects.all()

    @extend_schema(operation_id="users_retrieve", responses={200: UserOutput, 404: NOT_FOUND})
    def get(self, request: Request, user_id: str) -> Response:
        return Response(UserOutput(get_object_or_404(selectors.user_list(), pk=user_id)).data)

    @extend_schema(
        operation_id="users_partial_update",
        request=UserInput,
        responses={200: UserOutput, 400: FIELD_ERRORS, 404: NOT_FOUND},
    )
    def patch(self, request: Request, user_id: str) -> Response:
        user = get_object_or_404(User, pk=user_id)
        data = UserInput(instance=user, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        user = services.user_update(user_id=user.pk, data=data.validated_data)
        return Response(UserOutput(user).data)

    @extend_schema(
        operation_id="users_erase",
        description="GDPR erase: the employee is deleted; `user.erased` carries only the id.",
        responses={204: None, 404: NOT_FOUND},
    )
    def delete(self, request: Request, user_id: str) -> Response:
        get_object_or_404(User, pk=user_id)
        services.user_erase(user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# POST sets whether the employee is active, through the service each subclass names. (No docstring:
# drf-spectacular would show it as the operation's description.)
class _UserActiveStateApi(APIView):
    queryset = User.objects.all()
    permission_classes = [StaffOrChangePermission]
    set_state: Callable[..., User]

    def post(self, request: Request, user_id: str) -> Response:
        get_object_or_404(User, pk=user_id)
        return Response(UserOutput(type(self).set_state(user_id=user_id)).data)


def _active_state_schema(operation_id: str) -> Callable[[type[APIView]], type[APIView]]:
    post = extend_schema(operation_id=operation_id, request=None, responses={200: UserOutput, 404: NOT_FOUND})
    return extend_schema_view(post=post)


@_active_state_schema("users_deactivate")
class UserDeactivateApi(_UserActiveStateApi):
    set_state = staticmethod(services.user_deactivate)


@_active_state_schema("users_reactivate")
class UserReactivateApi(_UserActiveStateApi):
    set_state = staticmethod(services.user_reactivate)
