"""`/metrics`: every process's metrics in the Prometheus text format (no login, like `/health/`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from shared_settings.prometheus import metrics_response


def metrics_view(request: HttpRequest) -> HttpResponse:
    return metrics_response()
