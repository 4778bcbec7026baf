"""What `/ops/` shows, read where the facts live: the users database (inbox and read model), SQS,
the broker's Redis, the monolith's `/health/`, the workers (a Celery ping) and the shared metrics.

Each reader answers with a value or `None` ("unknown") and never raises for a part that is down:
the page must render when the thing it watches is broken. Counters and gauges are read through
`pipeline_metrics` alone, the one place to change when the metrics store changes.
"""

from __future__ import annotations

import logging
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import TruncMinute
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from events.aws import AWS_CALL_ERRORS, AwsSettings, client
from events.topology import TopologyNames
from users_service import cache_keys, queues
from users_service.directory.models import FailedTask, InboxEntry, UserRecord
from users_service.ops import metrics
from users_service.read_through import CACHE_ERRORS
from users_service.upstream import UpstreamError, monolith_get
from users_service.worker_ping import ping_workers

log = logging.getLogger(__name__)

#: Seconds any one outside call of the page may take: a dead part must not hang the page.
CALL_TIMEOUT = 1.0
#: The newest applied events whose lag the page samples (enough for an hour of a busy stack).
LAG_SAMPLE = 20_000


def _error(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]


# --- the users database ----------------------------------------------------------------------


@dataclass(frozen=True)
class Minute:
    """One minute of the pipeline: inbox rows by outcome, and the lag of the events applied in it."""

    start: datetime
    applied: int = 0
    stale: int = 0
    lags: tuple[float, ...] = ()

    @property
    def lag_median(self) -> float | None:
        return round(statistics.median(self.lags), 3) if self.lags else None

    @property
    def lag_max(self) -> float | None:
        return round(max(self.lags), 3) if self.lags else None


@dataclass(frozen=True)
class Throughput:
    minutes: list[Minute]

    @property
    def applied(self) -> int:
        return sum(minute.applied for minute in self.minutes)

    @property
    def stale(self) -> int:
        return sum(minute.stale for minute in self.minutes)

    @property
    def lag_median(self) -> float | None:
        lags = [lag for minute in self.minutes for lag in minute.lags]
        return round(statistics.median(lags), 3) if lags else None

    @property
    def lag_max(self) -> float | None:
        lags = [lag for minute in self.minutes for lag in minute.lags]
        return round(max(lags), 3) if lags else None


def _event_lags(*, since: datetime, until: datetime) -> dict[datetime, list[float]]:
    """Seconds from each event's `occurred_at` (in the monolith) to its apply here, by minute of apply.

    The read model keeps each user's newest event (`last_event_id`, `last_event_at`) and the
    inbox the moment it was applied, so this measures every user's newest event: a user changed
    five times in the hour counts once. A repair by reconciliation moves `updated_at` but not the
    event, and the inbox lookup keeps its real apply time.
    """
    applied_at = InboxEntry.objects.filter(
        event_id=OuterRef("last_event_id"), outcome=InboxEntry.Outcome.APPLIED
    ).values("processed_at")[:1]
    pairs = (
        UserRecord.objects.filter(updated_at__gte=since, last_event_at__isnull=False)
        .annotate(applied_at=Subquery(applied_at))
        .filter(applied_at__gte=since, applied_at__lt=until)
        .order_by("-updated_at")
        .values_list("applied_at", "last_event_at")[:LAG_SAMPLE]
    )
    lags: dict[datetime, list[float]] = {}
    for applied, occurred in pairs:
        minute = applied.replace(second=0, microsecond=0)
        # Clocks of two hosts: an event "applied before it occurred" is a skew, shown as 0, not negative.
        lags.setdefault(minute, []).append(max(0.0, (applied - occurred).total_seconds()))
    return lags


def throughput(*, minutes: int = 60, now: datetime | None = None) -> Throughput:
    """Events handled per minute over the last `minutes` (inbox rows by outcome) and their lag."""
    now = now or timezone.now()
    until = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    since = until - timedelta(minutes=minutes)
    counts: dict[datetime, dict[str, int]] = {}
    rows = (
        InboxEntry.objects.filter(processed_at__gte=since, processed_at__lt=until)
        .annotate(minute=TruncMinute("processed_at", tzinfo=UTC))
        .values("minute", "outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts.setdefault(row["minute"], {})[row["outcome"]] = row["n"]
    lags = _event_lags(since=since, until=until)
    series = []
    for index in range(minutes):
        start = since + timedelta(minutes=index)
        outcomes = counts.get(start, {})
        series.append(
            Minute(
                start=start,
                applied=outcomes.get(InboxEntry.Outcome.APPLIED, 0),
                stale=outcomes.get(InboxEntry.Outcome.STALE, 0),
                lags=tuple(lags.get(start, ())),
            )
        )
    return Throughput(minutes=series)


def failed_task_count() -> int:
    return FailedTask.objects.filter(status=FailedTask.Status.FAILED).count()


# --- SQS and the broker ------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueDepths:
    """SQS: the events queue (waiting, being handled) and its DLQ; None where SQS did not answer."""

    waiting: int | None = None
    in_flight: int | None = None
    dead_letters: int | None = None
    error: str = ""


def sqs_depths() -> QueueDepths:
    names = TopologyNames.from_env()
    sqs = client(
        "sqs",
        AwsSettings.from_env(),
        connect_timeout=CALL_TIMEOUT,
        read_timeout=CALL_TIMEOUT,
        retries={"max_attempts": 1},
    )
    wanted = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    try:
        queue = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=names.queue)["QueueUrl"], AttributeNames=wanted
        )["Attributes"]
        dlq = sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"], AttributeNames=wanted[:1]
        )["Attributes"]
    except AWS_CALL_ERRORS as exc:
        return QueueDepths(error=_error(exc))
    return QueueDepths(
        waiting=int(queue["ApproximateNumberOfMessages"]),
        in_flight=int(queue["ApproximateNumberOfMessagesNotVisible"]),
        dead_letters=int(dlq["ApproximateNumberOfMessages"]),
    )


def _broker() -> redis.Redis:
    return redis.Redis.from_url(
        settings.CELERY_BROKER_URL, socket_connect_timeout=CALL_TIMEOUT, socket_timeout=CALL_TIMEOUT
    )


def broker_queue_lengths() -> dict[str, int | None]:
    """Tasks waiting in each worker role's Celery queue (a Redis list named after the queue)."""
    try:
        pipe = _broker().pipeline(transaction=False)
        for name in queues.ROLES:
            pipe.llen(name)
        return dict(zip(queues.ROLES, pipe.execute(), strict=True))
    except (redis.RedisError, OSError) as exc:
        log.warning("broker queue lengths unknown: %s", _error(exc))
        return dict.fromkeys(queues.ROLES)


# --- the monolith ----------------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxBacklog:
    """The monolith's outbox as its `/health/` reports it; `None` figures while it does not answer."""

    pending: int | None = None
    oldest_pending_seconds: float | None = None
    failed: int | None = None
    error: str = ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def outbox_backlog() -> OutboxBacklog:
    """The monolith's outbox as its `/health/` reports it (the figures come with a 503 too)."""
    try:
        body = monolith_get("/health/", timeout=(CALL_TIMEOUT, CALL_TIMEOUT), also_accept=(503,))
    except UpstreamError as exc:
        return OutboxBacklog(error=str(exc)[:200])
    figures = body.get("figures") if isinstance(body, dict) else None
    if not isinstance(figures, dict) or "outbox_backlog" not in figures:
        return OutboxBacklog(error="the monolith's /health/ reports no outbox")
    pending, failed = _number(figures.get("outbox_backlog")), _number(figures.get("outbox_parked_rows"))
    return OutboxBacklog(
        pending=None if pending is None else int(pending),
        oldest_pending_seconds=_number(figures.get("outbox_oldest_pending_age_seconds")),
        failed=None if failed is None else int(failed),
    )


# --- the workers -----------------------------------------------------------------------------

#: Seconds a ping's answer is reused: a ping waits its whole timeout for replies, too long per page.
WORKER_STATUS_TTL = 15


@dataclass(frozen=True)
class WorkerStatus:
    """Which worker nodes answered a ping, per role (node names are `<queue>@<host>`)."""

    nodes: dict[str, list[str]] = field(default_factory=dict)
    checked_at: datetime | None = None
    error: str = ""

    @property
    def roles_down(self) -> list[str]:
        return [role for role in queues.ROLES if not self.nodes.get(role)]


def _ping_workers() -> WorkerStatus:
    try:
        # Celery's own connection retries for seconds when the broker is down: ask Redis first.
        _broker().ping()
        answered = ping_workers(CALL_TIMEOUT)
    except (KombuOperationalError, redis.RedisError, OSError) as exc:
        return WorkerStatus(error=_error(exc), checked_at=timezone.now())
    nodes: dict[str, list[str]] = {role: [] for role in queues.ROLES}
    for node in answered:
        nodes.setdefault(node.split("@", 1)[0], []).append(node)
    return WorkerStatus(nodes=nodes, checked_at=timezone.now())


def worker_status() -> WorkerStatus:
    """The last ping's answer if fresh (the cache), else a new ping (up to CALL_TIMEOUT seconds)."""
    key = cache_keys.ops_worker_status()
    try:
        cached = cache.get(key)
    except CACHE_ERRORS as exc:  # a cache that is down only costs a ping
        log.warning("worker status not cached: %s", _error(exc))
        cached = None
    if isinstance(cached, dict) and isinstance(cached.get("nodes"), dict):
        return WorkerStatus(
            nodes=cached["nodes"],
            checked_at=datetime.fromisoformat(cached["checked_at"]),
            error=str(cached.get("error", "")),
        )
    status = _ping_workers()
    try:
        cache.set(
            key,
            {"nodes": status.nodes, "checked_at": status.checked_at.isoformat(), "error": status.error},
            WORKER_STATUS_TTL,
        )
    except CACHE_ERRORS as exc:
        log.warning("worker status not cached: %s", _error(exc))
    return status


# --- counters and gauges ---------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineMetrics:
    """What the page needs of the shared counters and gauges."""

    #: Per cache (`resources`, `catalogue`): hits, misses, errors, fall-throughs and the hit ratio.
    caches: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Age of the oldest message the bridges see in SQS (the largest over live bridges), seconds.
    bridge_oldest_message_seconds: float | None = None
    error: str = ""


def pipeline_metrics() -> PipelineMetrics:
    """The one reader of `metrics` on the page (its API may change; only this function follows)."""
    try:
        values = metrics.snapshot()
    except (redis.RedisError, OSError) as exc:
        return PipelineMetrics(error=_error(exc))
    return PipelineMetrics(
        caches=metrics.cache_summary(values),
        bridge_oldest_message_seconds=metrics.value(metrics.BRIDGE_OLDEST_MESSAGE_AGE, values, combine="max"),
    )
