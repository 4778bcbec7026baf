"""`/api/users/` of the users service: read-only views of the read model.

The list is a `ListAPIView` with django-filter rather than a bare APIView: the filter
backend validates every parameter (400 with field errors) and drf-spectacular documents
the parameters from the same FilterSet, so the schema cannot drift from the code.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users_service.directory import selectors
from users_service.directory.filters import UserFilter
from users_service.directory.models import UserRecord
from users_service.pagination import StrictLimitOffsetPagination


class UserOutput(serializers.Serializer):
    """The event payload's field names plus `version` and `erased`."""

    id = serializers.UUIDField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    department = serializers.CharField(allow_null=True)
    position = serializers.CharField(allow_null=True)
    location = serializers.CharField(allow_null=True)
    start_date = serializers.DateField(allow_null=True)
    end_date = serializers.DateField(allow_null=True)
    is_active = serializers.BooleanField()
    version = serializers.IntegerField()
    erased = serializers.BooleanField()


class TombstoneOutput(serializers.Serializer):
    """An erased user: no personal data."""

    id = serializers.UUIDField()
    version = serializers.IntegerField()
    erased = serializers.BooleanField()


#: Parameters the list understands besides its filters; anything else is refused (typos).
_OTHER_PARAMETERS = {"limit", "offset", "format"}


#: A 400: each bad query parameter with its messages, e.g. `{"active": ["Select a valid choice. …"]}`.
FIELD_ERRORS = {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}}


@extend_schema(
    responses={
        200: UserOutput(many=True),
        400: OpenApiResponse(FIELD_ERRORS, description="A bad value or an unknown query parameter."),
    }
)
class UserListApi(ListAPIView):
    """Known users (tombstones left out), filtered, searched, ordered and paginated."""

    serializer_class = UserOutput
    filter_backends = [DjangoFilterBackend]
    filterset_class = UserFilter
    pagination_class = StrictLimitOffsetPagination

    def get_queryset(self):
        return selectors.user_list()

    def list(self, request: Request, *args, **kwargs) -> Response:
        unknown = sorted(set(request.query_params) - set(UserFilter.base_filters) - _OTHER_PARAMETERS)
        if unknown:
            raise ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return super().list(request, *args, **kwargs)


class UserDetailApi(APIView):
    @extend_schema(
        responses={
            200: PolymorphicProxySerializer(
                component_name="UserOrTombstone",
                serializers=[UserOutput, TombstoneOutput],
                resource_type_field_name=None,
            ),
            404: OpenApiResponse(description="No event about this user has been applied yet."),
        }
    )
    def get(self, request: Request, user_id: str) -> Response:
        try:
            record = selectors.user_get(user_id)
        except UserRecord.DoesNotExist:
            raise NotFound("No event about this user has been applied yet.") from None
        output = TombstoneOutput if record.erased else UserOutput
        return Response(output(record).data)
