"""`/metrics`: every process's metrics in the Prometheus text format (no login, like `/health/`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST

from shared_settings import prometheus


def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(prometheus.exposition(), content_type=CONTENT_TYPE_LATEST)
