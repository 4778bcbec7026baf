"""`/api/reports/` and `/api/reports/<id>/`: report runs as JSON, or as CSV with `?format=csv`."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import renderers, serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from users_service.pagination import StrictLimitOffsetPagination
from users_service.reports import selectors
from users_service.reports.definitions import REPORTS
from users_service.reports.models import ReportRun
from users_service.reports.periods import FORMATS, PeriodError, parse_period
from users_service.reports.renderers import CSVRenderer, StrictFormatNegotiation

SUMMARY_FIELDS = (
    "id",
    "report",
    "period",
    "status",
    "period_start",
    "period_end",
    "started_at",
    "finished_at",
)


class ReportRunOutput(serializers.ModelSerializer):
    class Meta:
        model = ReportRun
        fields = (*SUMMARY_FIELDS, "attempts", "error", "figures", "rows")


class ReportRunFilter(serializers.Serializer):
    report = serializers.ChoiceField(choices=sorted(REPORTS), required=False)
    period = serializers.CharField(required=False, max_length=32)

    def validate(self, attrs: dict) -> dict:
        period = attrs.get("period")
        if not period:
            return attrs
        granularities = [REPORTS[attrs["report"]].granularity] if "report" in attrs else list(FORMATS)
        errors = []
        for granularity in granularities:
            try:
                attrs["period"] = parse_period(granularity, period).key
                return attrs
            except PeriodError as exc:
                errors.append(str(exc))
        raise serializers.ValidationError({"period": errors})


class ReportApiBase(APIView):
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]
    content_negotiation_class = StrictFormatNegotiation

    def wants_csv(self, request: Request) -> bool:
        return getattr(request.accepted_renderer, "format", None) == "csv"

    def handle_exception(self, exc: Exception) -> Response:
        # Errors are always JSON: a CSV of {"period": [...]} would read as data.
        self.request.accepted_renderer = renderers.JSONRenderer()
        self.request.accepted_media_type = "application/json"
        return super().handle_exception(exc)


def _flat_figures(run: ReportRun) -> dict:
    return {
        f"figure_{key}": value for key, value in run.figures.items() if not isinstance(value, list | dict)
    }


FORMAT_PARAMETER = OpenApiParameter("format", str, enum=["json", "csv"], description="csv: text/csv")


class ReportRunListApi(ReportApiBase):
    # Declared so that the schema shows the paginated envelope and its parameters.
    pagination_class = StrictLimitOffsetPagination

    @extend_schema(
        parameters=[ReportRunFilter, FORMAT_PARAMETER],
        responses={
            200: ReportRunOutput(many=True),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="A filter or format it cannot read."),
        },
    )
    def get(self, request: Request) -> Response:
        query = ReportRunFilter(data=request.query_params)
        query.is_valid(raise_exception=True)
        runs = selectors.report_run_list(**query.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(runs, request, view=self)
        if self.wants_csv(request):
            # One line per run: its summary and headline figures (the rows are in the detail's CSV).
            summaries = ReportRunOutput(page, many=True).data
            lines = [
                {key: summary[key] for key in SUMMARY_FIELDS} | _flat_figures(run)
                for run, summary in zip(page, summaries, strict=True)
            ]
            return Response(lines)
        return paginator.get_paginated_response(ReportRunOutput(page, many=True).data)


class ReportRunDetailApi(ReportApiBase):
    @extend_schema(
        parameters=[FORMAT_PARAMETER],
        responses={
            200: ReportRunOutput,
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="An unknown format."),
            404: OpenApiResponse(OpenApiTypes.OBJECT, description="No report run with this id."),
        },
    )
    def get(self, request: Request, run_id: int) -> Response:
        try:
            run = selectors.report_run_get(run_id)
        except ReportRun.DoesNotExist:
            raise NotFound("No report run with this id.") from None
        if self.wants_csv(request):
            return Response(run.rows)
        return Response(ReportRunOutput(run).data)
