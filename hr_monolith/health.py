"""`/health/`: 200 when the database answers, else 503 naming the failing part; with the outbox's
backlog (informative, not a check: the users service's `/ops/` page shows it)."""

from __future__ import annotations

from typing import Any

from django.db import DatabaseError, connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from hr_monolith.outbox.selectors import outbox_backlog


def _outbox() -> dict[str, Any] | str:
    try:
        backlog = outbox_backlog()
    except DatabaseError as exc:
        return f"unavailable: {type(exc).__name__}"
    age = backlog.oldest_age_seconds
    return {
        "pending": backlog.pending,
        "oldest_pending_seconds": None if age is None else round(age, 3),
        "failed": backlog.failed,
    }


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not healthy", reported by name
        checks["database"] = f"error: {exc}"
    healthy = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "error", "checks": checks}
    if healthy:
        body["outbox"] = _outbox()
    return JsonResponse(body, status=200 if healthy else 503)
