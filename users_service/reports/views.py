"""`/ops/`: the page an operator keeps open. The last hour of the pipeline (events per minute, lag),
queues and dead letters, the monolith's outbox backlog, the workers, the caches, and each report's
newest run and chart. Every figure comes from `dashboard`; a part that is down shows as unknown."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from users_service import queues
from users_service.reports import dashboard
from users_service.reports.charts import lag_chart_svg, report_chart_svg, throughput_chart_svg
from users_service.reports.definitions import REPORTS
from users_service.reports.models import ReportRun

#: Minutes of history in the throughput and lag charts.
WINDOW_MINUTES = 60


def ops_page(request: HttpRequest) -> HttpResponse:
    reports = []
    for report in REPORTS.values():
        latest = ReportRun.objects.filter(report=report.name).order_by("-period_start").first()
        reports.append({"report": report, "latest": latest, "chart": report_chart_svg(report)})
    throughput = dashboard.throughput(minutes=WINDOW_MINUTES)
    recent = throughput.minutes[-5:]
    workers = dashboard.worker_status()
    broker = dashboard.broker_queue_lengths()
    context = {
        "refresh_seconds": settings.OPS_REFRESH_SECONDS,
        "flower_url": settings.FLOWER_URL,
        "window_minutes": WINDOW_MINUTES,
        "throughput": throughput,
        "per_minute_now": round(sum(m.applied + m.stale for m in recent) / len(recent), 1),
        "throughput_chart": throughput_chart_svg(throughput),
        "lag_chart": lag_chart_svg(throughput),
        "sqs": dashboard.sqs_depths(),
        "outbox": dashboard.outbox_backlog(),
        "workers": workers,
        "roles": [
            {"name": name, "runs": role.runs, "nodes": workers.nodes.get(name, []), "waiting": waiting}
            for name, role in queues.ROLES.items()
            for waiting in [broker.get(name)]
        ],
        "metrics": dashboard.pipeline_metrics(),
        "failed_tasks": dashboard.failed_task_count(),
        "reports": reports,
    }
    return render(request, "reports/ops.html", context)
