"""Build the bridge from settings: SQS clients, topology, intake rules, Celery publisher, limits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import reset_queries

from events.aws import AwsSettings, client
from events.bridge import Bridge, BridgeStats
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.bridge.dlq import DeadLetterQueue
from events.bridge.loops import LoopOptions
from events.bridge.poison_limit import PoisonLimit
from events.liveness import Liveness
from events.topology import TopologyNames, find_queue_url, find_topic_arn
from users_service.bridge.handoff import DatabaseHandOffLog
from users_service.bridge.stats_export import bridge_stats
from users_service.celery import app as celery_app
from users_service.routing import ROUTES


def bridge_sqs_client(aws: AwsSettings) -> Any:
    """An SQS client for one receive loop: a read timeout just past the long poll, one retry.

    A stop does not wait for a long poll (events/bridge/loops.py), so these bound only how long a
    loop stays blind when SQS stops answering, not how long SIGTERM takes.
    """
    return client(
        "sqs",
        aws,
        read_timeout=settings.BRIDGE_WAIT_SECONDS + 5,
        retries={"max_attempts": 2, "mode": "standard"},
    )


def build_bridge(*, stats: BridgeStats | None = None) -> Bridge:
    aws = AwsSettings.from_env()
    sqs = bridge_sqs_client(aws)
    names = TopologyNames.from_env()
    # Looked up, never created or changed: provisioning is `hr provision_topology`'s, and on AWS the
    # bridge's role may only receive, delete, change visibility and dead-letter (docs/aws.md).
    queue_url = find_queue_url(sqs, names.queue)
    dlq_url = find_queue_url(sqs, names.dlq)
    allowed_topic_arns = settings.BRIDGE_ALLOWED_TOPIC_ARNS or [
        find_topic_arn(client("sns", aws), names.topic)
    ]
    return Bridge(
        sqs=sqs,
        # A client per loop: loops sharing one contend on its connection pool (bench/bridge_drain).
        new_sqs_client=lambda: bridge_sqs_client(aws),
        queue_url=queue_url,
        dlq_url=dlq_url,
        publisher=CeleryTaskPublisher(
            celery_app,
            connect_timeout=settings.BRIDGE_BROKER_CONNECT_TIMEOUT,
            socket_timeout=settings.BRIDGE_BROKER_SOCKET_TIMEOUT,
        ),
        routes=ROUTES,
        allowed_topic_arns=allowed_topic_arns,
        # The subscription and the bridge read the same setting: they cannot disagree.
        raw_delivery=names.raw_delivery,
        stats=stats or bridge_stats(),
        poison_limit=PoisonLimit(
            window=settings.BRIDGE_POISON_WINDOW,
            min_messages=settings.BRIDGE_POISON_MIN_MESSAGES,
            max_ratio=settings.BRIDGE_POISON_MAX_RATIO,
        ),
        options=LoopOptions(
            wait_seconds=settings.BRIDGE_WAIT_SECONDS,
            max_backoff_seconds=settings.BRIDGE_MAX_BACKOFF_SECONDS,
            visibility_timeout=names.visibility_timeout,
            heartbeat_seconds=settings.BRIDGE_HEARTBEAT_SECONDS,
            stop_grace_seconds=settings.BRIDGE_STOP_GRACE_SECONDS,
        ),
        handoff_log=DatabaseHandOffLog(),
    )


def dead_letter_queue() -> DeadLetterQueue:
    """The DLQ and the main queue by name (no topology changes: safe from a web request)."""
    return DeadLetterQueue.from_env()


def loop_turn(liveness: Liveness) -> Callable[[], None]:
    """What every receive loop does at each turn (`Bridge.run(on_turn=...)`): touch the liveness
    file, and forget the queries Django logged on this thread's connections. With DEBUG on
    (development, the benches) Django keeps each connection's last 9,000 queries until a request
    ends; a loop's turn is the bridge's request, and it never ends otherwise."""

    def turn() -> None:
        liveness.beat()
        reset_queries()

    return turn
