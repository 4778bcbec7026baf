"""Catalogue endpoints `/api/<kind>/` and `/api/<kind>/<code>/`; writes need staff or the model permission."""

from __future__ import annotations

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from hr_monolith.catalogue import services
from hr_monolith.catalogue.models import CATALOGUE_MODELS, CatalogueEntry, code_validator
from hr_monolith.pagination import ApiPagination


class CatalogueEntryOutput(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    version = serializers.IntegerField()


class CatalogueEntryCreateInput(serializers.Serializer):
    code = serializers.CharField(max_length=32, validators=[code_validator])
    name = serializers.CharField(max_length=200)


class CatalogueEntryUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=200)


class CatalogueKindApi(APIView):
    """One catalogue kind (`departments`, ...); writes need that model's permission (or staff)."""

    kind = ""

    def get_queryset(self) -> QuerySet[CatalogueEntry]:
        return CATALOGUE_MODELS[self.kind].objects.all()


class CatalogueListApi(CatalogueKindApi):
    @extend_schema(responses=CatalogueEntryOutput(many=True))
    def get(self, request: Request) -> Response:
        entries = self.get_queryset().order_by("code")
        paginator = ApiPagination()
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


class CatalogueDetailApi(CatalogueKindApi):
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
