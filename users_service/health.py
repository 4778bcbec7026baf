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

#: Seconds each network check may take: a dead or black-holed part must not hang the check.
REDIS_TIMEOUT = 0.5
SQS_CONNECT_TIMEOUT = 0.5
SQS_READ_TIMEOUT = 1.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis(url: str) -> Callable[[], None]:
    def check() -> None:
        redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT).ping()

    return check


def _sqs() -> None:
    aws = AwsSettings.from_env()
    sqs = client(
        "sqs",
        aws,
        connect_timeout=SQS_CONNECT_TIMEOUT,
        read_timeout=SQS_READ_TIMEOUT,
        retries={"max_attempts": 1},
    )
    sqs.get_queue_url(QueueName=TopologyNames.from_env().queue)


def _counters() -> dict[str, object]:
    """What the bridges and caches last counted (informative, not a check): one metrics snapshot."""
    values = metrics.snapshot()
    return {
        "bridge": {name: value for name, value in sorted(values.items()) if name.startswith("bridge_")},
        "caches": metrics.cache_summary(values),
    }


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
    failing = [name for name, value in results.items() if value != "ok"]
    return JsonResponse(
        {"status": "error" if failing else "ok", "checks": results, "failing": failing, **_counters()},
        status=503 if failing else 200,
    )
