"""`/health/`: database, broker Redis, cache Redis and SQS; 200 or 503 naming the failing part."""

from __future__ import annotations

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse

from events.aws import AwsSettings, client
from events.topology import TopologyNames
from users_service.ops import metrics


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis(url: str) -> Callable[[], None]:
    def check() -> None:
        redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping()

    return check


def _sqs() -> None:
    aws = AwsSettings.from_env()
    sqs = client("sqs", aws, connect_timeout=1, read_timeout=2, retries={"max_attempts": 1})
    sqs.get_queue_url(QueueName=TopologyNames.from_env().queue)


def _bridge() -> dict[str, float] | str:
    """What the bridges last exported (counters and per-process gauges); informative, not a check."""
    try:
        values = metrics.snapshot()
    except (redis.RedisError, OSError) as exc:
        return f"unavailable: {exc}"[:300]
    return {name: value for name, value in sorted(values.items()) if name.startswith("bridge_")}


def health(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _database,
        "broker": _redis(settings.CELERY_BROKER_URL),
        "cache": _redis(settings.CACHE_REDIS_URL),
        "sqs": _sqs,
    }
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # any failure means "not healthy", reported by name
            results[name] = f"error: {type(exc).__name__}: {exc}"[:300]
    healthy = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": results, "bridge": _bridge()},
        status=200 if healthy else 503,
    )
