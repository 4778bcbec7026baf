"""`/ops/`: each report's newest run and its chart, and the shared counters."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from users_service.ops import metrics
from users_service.reports.charts import report_chart_svg
from users_service.reports.definitions import REPORTS
from users_service.reports.models import ReportRun


@login_required(login_url="/admin/login/")
def ops_page(request: HttpRequest) -> HttpResponse:
    reports = []
    for report in REPORTS.values():
        latest = ReportRun.objects.filter(report=report.name).order_by("-period_start").first()
        reports.append({"report": report, "latest": latest, "chart": report_chart_svg(report)})
    values, metrics_error = sorted(metrics.snapshot().items()), ""
    return render(
        request, "reports/ops.html", {"reports": reports, "metrics": values, "metrics_error": metrics_error}
    )
