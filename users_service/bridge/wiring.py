"""Build the bridge from settings: SQS client, topology, allow-list, Celery publisher."""

from __future__ import annotations

from django.conf import settings

from events.aws import AwsSettings, client
from events.bridge import Bridge, BridgeStats
from events.celery_publisher import CeleryTaskPublisher
from events.dead_letters import DeadLetterQueue
from events.topology import Topology, TopologyNames, ensure_topology
from users_service.celery import app as celery_app
from users_service.routing import ROUTES


def topology() -> Topology:
    aws = AwsSettings.from_env()
    return ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames.from_env())


def build_bridge(*, stats: BridgeStats | None = None) -> Bridge:
    aws = AwsSettings.from_env()
    # A long poll returns after BRIDGE_WAIT_SECONDS; an emulator or network that stops answering
    # must not hold a loop (and so SIGTERM) for long: a short read timeout and one retry here,
    # the loop's own backoff after that. Bound: 2 x (BRIDGE_WAIT_SECONDS + 5) s.
    sqs = client(
        "sqs",
        aws,
        read_timeout=settings.BRIDGE_WAIT_SECONDS + 5,
        retries={"max_attempts": 2, "mode": "standard"},
    )
    names = TopologyNames.from_env()
    top = ensure_topology(client("sns", aws), sqs, names)
    return Bridge(
        sqs=sqs,
        queue_url=top.queue_url,
        dlq_url=top.dlq_url,
        publisher=CeleryTaskPublisher(
            celery_app,
            connect_timeout=settings.BRIDGE_BROKER_CONNECT_TIMEOUT,
            socket_timeout=settings.BRIDGE_BROKER_SOCKET_TIMEOUT,
        ),
        routes=ROUTES,
        allowed_topic_arns=settings.BRIDGE_ALLOWED_TOPIC_ARNS or [top.topic_arn],
        wait_seconds=settings.BRIDGE_WAIT_SECONDS,
        stats=stats,
        max_backoff_seconds=settings.BRIDGE_MAX_BACKOFF_SECONDS,
        visibility_timeout=names.visibility_timeout,
        heartbeat_seconds=settings.BRIDGE_HEARTBEAT_SECONDS,
    )


def dead_letter_queue() -> DeadLetterQueue:
    """The DLQ and the main queue by name (no topology changes: safe from a web request)."""
    sqs = client("sqs", AwsSettings.from_env(), read_timeout=10)
    names = TopologyNames.from_env()
    return DeadLetterQueue(
        sqs,
        dlq_url=sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"],
        queue_url=sqs.get_queue_url(QueueName=names.queue)["QueueUrl"],
    )
