"""`/metrics` of the monolith: the relay's counters and the outbox's state (no login, like `/health/`)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from hr_monolith.outbox.metrics import OutboxCollector
from shared_settings.prometheus import metrics_response


def metrics_view(request: HttpRequest) -> HttpResponse:
    return metrics_response(OutboxCollector())
