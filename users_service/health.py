"""`/health/`: is the users service's pipeline healthy? (shared_settings/health.py answers.)

Reachable: the database, the broker Redis, the cache Redis, SQS. Within thresholds (settings
HEALTH_*): the queue's and the DLQ's depth, the bridge's lag (age of the oldest message it last
received), the parked hand-offs, beat's last tick, and at least one worker answering a ping
(cached: a ping waits its whole timeout for replies).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from events.aws import AwsSettings, client
from events.topology import TopologyNames
from shared_settings.health import Check, health_response, unhealthy
from users_service.bridge.models import HandOff
from users_service.ops import metrics
from users_service.reports.scheduler import BEAT_LAST_TICK_KEY
from users_service.worker_ping import ping_workers

#: Seconds each network check may take: a dead or black-holed part must not hang the check.
REDIS_TIMEOUT = 0.5
SQS_CONNECT_TIMEOUT = 0.5
SQS_READ_TIMEOUT = 1.0


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT)


def _redis(url: str) -> Callable[[], None]:
    def check() -> None:
        _redis_client(url).ping()

    return check


def _sqs_client() -> Any:
    return client(
        "sqs",
        AwsSettings.from_env(),
        connect_timeout=SQS_CONNECT_TIMEOUT,
        read_timeout=SQS_READ_TIMEOUT,
        retries={"max_attempts": 1},
    )


def _depth(sqs: Any, queue: str) -> int:
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def _sqs() -> dict[str, int]:
    """SQS answers and both queues exist; their depths against HEALTH_MAX_QUEUE_DEPTH/DLQ_DEPTH."""
    sqs, names = _sqs_client(), TopologyNames.from_env()
    figures = {"queue_depth": _depth(sqs, names.queue), "dlq_depth": _depth(sqs, names.dlq)}
    limits = {"queue_depth": settings.HEALTH_MAX_QUEUE_DEPTH, "dlq_depth": settings.HEALTH_MAX_DLQ_DEPTH}
    for name, limit in limits.items():
        if figures[name] > limit:
            raise unhealthy(f"{name} {figures[name]} > {limit}", **figures)
    return figures


def _bridge_lag() -> dict[str, float | None]:
    """The running bridges' oldest message age (0 when no bridge runs: nothing to judge)."""
    age = metrics.value(metrics.BRIDGE_OLDEST_MESSAGE_AGE, metrics.snapshot(), combine="max")
    if age is not None and age > settings.HEALTH_MAX_BRIDGE_LAG_SECONDS:
        raise unhealthy(
            f"oldest message age {age:.1f}s > {settings.HEALTH_MAX_BRIDGE_LAG_SECONDS}s",
            oldest_message_age_seconds=age,
        )
    return {"oldest_message_age_seconds": age}


def _handoffs() -> dict[str, int]:
    """Events the hand-off sweeper parked and nobody re-sent yet (docs/delivery.md)."""
    parked = HandOff.objects.filter(parked_at__isnull=False, applied_at__isnull=True).count()
    if parked > settings.HEALTH_MAX_PARKED_HANDOFFS:
        raise unhealthy(
            f"parked hand-offs {parked} > {settings.HEALTH_MAX_PARKED_HANDOFFS}", handoffs_parked=parked
        )
    return {"handoffs_parked": parked}


def _beat() -> dict[str, float]:
    """Seconds since the scheduling beat's last tick (it writes the time at each tick)."""
    stored = _redis_client(settings.REPORTS_BEAT_LOCK_URL).get(BEAT_LAST_TICK_KEY)
    if stored is None:
        raise unhealthy("no beat tick recorded")
    ago = max(0.0, time.time() - float(stored))
    if ago > settings.HEALTH_BEAT_MAX_AGE_SECONDS:
        raise unhealthy(
            f"last beat tick {ago:.0f}s ago > {settings.HEALTH_BEAT_MAX_AGE_SECONDS}s",
            beat_tick_age_seconds=ago,
        )
    return {"beat_tick_age_seconds": round(ago, 1)}


class _PingCache:
    """The last worker ping's answer, kept HEALTH_PING_CACHE_SECONDS (a probe every few seconds
    would otherwise broadcast a ping, and wait its timeout, every time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._workers: list[str] = []

    def workers(self) -> list[str]:
        with self._lock:
            if time.monotonic() - self._at >= settings.HEALTH_PING_CACHE_SECONDS:
                self._workers = ping_workers(settings.HEALTH_PING_TIMEOUT)
                self._at = time.monotonic()
            return list(self._workers)

    def forget(self) -> None:
        with self._lock:
            self._at = float("-inf")


PING = _PingCache()


def _workers() -> dict[str, int]:
    answered = PING.workers()
    if not answered:
        raise unhealthy("no worker answered a ping", workers=0)
    return {"workers": len(answered)}


def checks() -> dict[str, Check]:
    """The checks `/health/` runs, in order (the optional ones as the settings say)."""
    chosen: dict[str, Check] = {
        "database": _database,
        "broker": _redis(settings.CELERY_BROKER_URL),
        "cache": _redis(settings.CACHE_REDIS_URL),
        "sqs": _sqs,
        "bridge_lag": _bridge_lag,
        "handoffs": _handoffs,
    }
    if settings.HEALTH_BEAT_MAX_AGE_SECONDS > 0:
        chosen["beat"] = _beat
    if settings.HEALTH_CHECK_WORKERS:
        chosen["workers"] = _workers
    return chosen


def _counters() -> Mapping[str, object]:
    """What the bridges and caches counted (informative, not a check)."""
    values = metrics.snapshot()
    return {
        "bridge": {name: value for name, value in sorted(values.items()) if name.startswith("bridge_")},
        "caches": metrics.cache_summary(values),
    }


@never_cache
@require_safe
def health(request: HttpRequest) -> JsonResponse:
    return health_response(request, checks(), extra=_counters())
