"""`/health/` of the monolith (shared_settings/health.py answers): the database answers, and the
outbox is drained: backlog, oldest pending row and parked rows within the HEALTH_* thresholds.

SNS is not called from here: the relay, not the web, publishes, and an SNS outage shows where it
matters, as pending rows that grow old (HEALTH_MAX_OUTBOX_AGE_SECONDS).
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from hr_monolith.outbox.selectors import outbox_backlog
from shared_settings.health import Check, health_response, unhealthy


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _outbox() -> dict[str, float | int]:
    backlog = outbox_backlog()
    figures = {
        "outbox_backlog": backlog.pending,
        "outbox_oldest_pending_age_seconds": round(backlog.oldest_age_seconds or 0.0, 1),
        "outbox_parked_rows": backlog.failed,
    }
    limits = {
        "outbox_backlog": settings.HEALTH_MAX_OUTBOX_BACKLOG,
        "outbox_oldest_pending_age_seconds": settings.HEALTH_MAX_OUTBOX_AGE_SECONDS,
        "outbox_parked_rows": settings.HEALTH_MAX_PARKED_ROWS,
    }
    for name, limit in limits.items():
        if figures[name] > limit:
            raise unhealthy(f"{name} {figures[name]} > {limit}", **figures)
    return figures


def checks() -> dict[str, Check]:
    return {"database": _database, "outbox": _outbox}


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    return health_response(request, checks())
