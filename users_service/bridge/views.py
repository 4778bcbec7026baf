"""The staff page of one event's timeline (`/ops/trace/<event_id>/`)."""

from __future__ import annotations

import uuid

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from users_service.bridge.trace import event_timeline


def trace_page(request: HttpRequest, event_id: uuid.UUID | None = None) -> HttpResponse:
    """Staff: one event's timeline (users_service/bridge/trace.py); `?event_id=` comes from the form."""
    if event_id is None:
        wanted = request.GET.get("event_id", "").strip()
        if not wanted:
            return render(request, "bridge/trace.html", {})
        try:
            return redirect("ops-trace", event_id=uuid.UUID(wanted))
        except ValueError:
            return render(
                request, "bridge/trace.html", {"event_id": wanted, "error": "Not an event id."}, status=400
            )
    timeline = event_timeline(str(event_id))
    context = {"event_id": str(event_id), "timeline": timeline if timeline.found else None}
    if not timeline.found:
        context["error"] = "No record of this event: " + "; ".join(timeline.notes)
    return render(request, "bridge/trace.html", context, status=200 if timeline.found else 404)
