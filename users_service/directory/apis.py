"""`/api/users/` of the users service: read-only views of the read model."""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users_service.directory import selectors
from users_service.directory.models import UserRecord


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


class UserListApi(APIView):
    def get(self, request: Request) -> Response:
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(selectors.user_list(), request, view=self)
        return paginator.get_paginated_response(UserOutput(page, many=True).data)


class UserDetailApi(APIView):
    def get(self, request: Request, user_id: str) -> Response:
        try:
            record = selectors.user_get(user_id)
        except UserRecord.DoesNotExist:
            raise NotFound("No event about this user has been applied yet.") from None
        output = TombstoneOutput if record.erased else UserOutput
        return Response(output(record).data)
