"""Catalogue endpoints: `/api/<kind>/` and `/api/<kind>/<code>/`; writes are staff only."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hr_monolith.catalogue import services
from hr_monolith.catalogue.models import CATALOGUE_MODELS, code_validator


class ReadAnyWriteStaff(permissions.BasePermission):
    def has_permission(self, request: Request, view: APIView) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        return request.method in permissions.SAFE_METHODS or request.user.is_staff


class CatalogueEntryOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class CatalogueEntryCreateInput(serializers.Serializer):
    code = serializers.CharField(max_length=32, validators=[code_validator])
    name = serializers.CharField(max_length=200)


class CatalogueEntryUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class CatalogueListApi(APIView):
    kind = ""
    permission_classes = [ReadAnyWriteStaff]

    @extend_schema(responses=CatalogueEntryOutput(many=True))
    def get(self, request: Request) -> Response:
        entries = CATALOGUE_MODELS[self.kind].objects.order_by("code")
        paginator = LimitOffsetPagination()
        page = paginator.paginate_queryset(entries, request, view=self)
        return paginator.get_paginated_response(CatalogueEntryOutput(page, many=True).data)

    @extend_schema(
        request=CatalogueEntryCreateInput,
        responses={201: CatalogueEntryOutput, 400: OpenApiResponse(description="Field errors.")},
    )
    def post(self, request: Request) -> Response:
        data = CatalogueEntryCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        if CATALOGUE_MODELS[self.kind].objects.filter(code=data.validated_data["code"]).exists():
            raise serializers.ValidationError({"code": ["An entry with this code already exists."]})
        entry = services.catalogue_entry_create(kind=self.kind, **data.validated_data)
        return Response(CatalogueEntryOutput(entry).data, status=status.HTTP_201_CREATED)


class CatalogueDetailApi(APIView):
    kind = ""
    permission_classes = [ReadAnyWriteStaff]

    @extend_schema(responses={200: CatalogueEntryOutput, 404: OpenApiResponse(description="No such code.")})
    def get(self, request: Request, code: str) -> Response:
        entry = get_object_or_404(CATALOGUE_MODELS[self.kind], code=code)
        return Response(CatalogueEntryOutput(entry).data)

    @extend_schema(request=CatalogueEntryUpdateInput, responses={200: CatalogueEntryOutput})
    def patch(self, request: Request, code: str) -> Response:
        get_object_or_404(CATALOGUE_MODELS[self.kind], code=code)
        data = CatalogueEntryUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.catalogue_entry_update(kind=self.kind, code=code, **data.validated_data)
        return Response(CatalogueEntryOutput(entry).data)
