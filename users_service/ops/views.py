"""`/metrics`: every counter and gauge in the Prometheus text format (no login, like `/health/`); `/ops/`."""

from __future__ import annotations

import redis
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from users_service.ops import metrics
from users_service.reports.charts import report_chart_svg
from users_service.reports.definitions import REPORTS
from users_service.reports.models import ReportRun


def metrics_view(request: HttpRequest) -> HttpResponse:
    try:
        values = metrics.snapshot()
    except (redis.RedisError, OSError) as exc:
        return HttpResponse(f"# metrics store unavailable: {exc}\n", status=503, content_type="text/plain")
    lines = [f"{name} {value:g}" for name, value in sorted(values.items())]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")


@login_required(login_url="/admin/login/")
def ops_page(request: HttpRequest) -> HttpResponse:
    """`/ops/`: each report's newest run and its chart, and the shared counters."""
    reports = []
    for report in REPORTS.values():
        latest = ReportRun.objects.filter(report=report.name).order_by("-period_start").first()
        reports.append({"report": report, "latest": latest, "chart": report_chart_svg(report)})
    try:
        values, metrics_error = sorted(metrics.snapshot().items()), ""
    except (redis.RedisError, OSError) as exc:
        values, metrics_error = [], f"metrics store unavailable: {exc}"
    return render(
        request, "ops/index.html", {"reports": reports, "metrics": values, "metrics_error": metrics_error}
    )
