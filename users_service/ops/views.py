"""`/metrics`: every counter and gauge in the Prometheus text format (no login, like `/health/`)."""

from __future__ import annotations

import redis
from django.http import HttpRequest, HttpResponse

from users_service.ops import metrics


def metrics_view(request: HttpRequest) -> HttpResponse:
    try:
        values = metrics.snapshot()
    except (redis.RedisError, OSError) as exc:
        return HttpResponse(f"# metrics store unavailable: {exc}\n", status=503, content_type="text/plain")
    lines = [f"{name} {value:g}" for name, value in sorted(values.items())]
    return HttpResponse("\n".join(lines) + "\n", content_type="text/plain; version=0.0.4")
