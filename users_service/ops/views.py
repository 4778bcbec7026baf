"""`/metrics`: every counter and gauge in the Prometheus text format (no login, like `/health/`)."""

from __future__ import annotations

import uuid

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


def trace_page(request: HttpRequest, event_id: uuid.UUID | None = None) -> HttpResponse:
    """Staff: one event's timeline (users_service/ops/trace.py); `?event_id=` comes from the form."""
    from django.shortcuts import redirect, render

    from users_service.ops.trace import event_timeline

    if event_id is None:
        wanted = request.GET.get("event_id", "").strip()
        if not wanted:
            return render(request, "ops/trace.html", {})
        try:
            return redirect("ops-trace", event_id=uuid.UUID(wanted))
        except ValueError:
            return render(
                request, "ops/trace.html", {"event_id": wanted, "error": "Not an event id."}, status=400
            )
    timeline = event_timeline(str(event_id))
    context = {"event_id": str(event_id), "timeline": timeline if timeline.found else None}
    if not timeline.found:
        context["error"] = "No record of this event: " + "; ".join(timeline.notes)
    return render(request, "ops/trace.html", context, status=200 if timeline.found else 404)
