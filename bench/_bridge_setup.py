"""Shared by the bridge benchmarks: LocalStack and Redis of their own, a filled queue, the raw drain."""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from celery import Celery

from bench._events import sns_notification, user_envelope
from bench.common import log
from devstack.localstack import LocalStackServer
from devstack.processes import free_port
from devstack.redis import RedisServer
from events import types
from events.aws import AwsSettings, client
from events.bridge import Bridge, Route
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.bridge.handoff import HandOffLog
from events.bridge.loops import LoopOptions
from events.envelope import Envelope
from events.topology import Topology, TopologyNames, ensure_topology

ROUTES = {types.USER_UPDATED: (Route("directory.apply_user_event", "events"),)}


@dataclass
class Rig:
    aws: AwsSettings
    top: Topology
    broker_url: str
    emulator: str

    def sqs(self) -> Any:
        return client("sqs", self.aws, max_pool_connections=50)

    def celery(self) -> Celery:
        app = Celery("bench", broker=self.broker_url)
        app.conf.update(task_serializer="json", accept_content=["json"], broker_connection_retry=False)
        return app

    def bridge(
        self, sqs: Any, loop_clients: list[Any] | None = None, handoff_log: HandOffLog | None = None
    ) -> Bridge:
        """The bridge as run_bridge builds it: each receive loop with an SQS client of its own
        (taken from `loop_clients` when given, so that building them is not timed), and the
        hand-off record when `handoff_log` is given."""
        return Bridge(
            sqs=sqs,
            new_sqs_client=loop_clients.pop if loop_clients else self.sqs,
            queue_url=self.top.queue_url,
            dlq_url=self.top.dlq_url,
            publisher=CeleryTaskPublisher(self.celery()),
            routes=ROUTES,
            allowed_topic_arns=[self.top.topic_arn],
            options=LoopOptions(wait_seconds=1),
            handoff_log=handoff_log,
        )

    def flush_broker(self) -> None:
        redis.Redis.from_url(self.broker_url).flushdb()


@contextmanager
def rig() -> Iterator[Rig]:
    """LocalStack (natively) and Redis on free ports, the topology created; all stopped after."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-bridge-"))
    started = time.perf_counter()
    localstack = LocalStackServer(free_port(), log_dir=workdir).start()
    redis_server = RedisServer(free_port(), workdir / "redis").start()
    log(f"LocalStack and Redis up in {time.perf_counter() - started:.1f}s")
    try:
        aws = AwsSettings(endpoint_url=localstack.url, access_key_id="test", secret_access_key="test")
        top = ensure_topology(client("sns", aws), client("sqs", aws), TopologyNames(visibility_timeout=60))
        yield Rig(aws, top, f"{redis_server.url}/0", "localstack 4.13.1 (native)")
    finally:
        redis_server.stop()
        localstack.stop()


def sns_wrapped(top: Topology, envelope: Envelope) -> str:
    """The body SNS delivers to a subscribed queue (no raw delivery)."""
    return sns_notification(top.topic_arn, envelope.to_json())


def user_updated(version: int = 1) -> Envelope:
    return user_envelope(types.USER_UPDATED, version=version)


def fill(rig: Rig, bodies: list[str], queue_url: str | None = None, threads: int = 4) -> None:
    """Send the bodies with send_message_batch from a few threads (faster than SNS, same bodies)."""
    queue_url = queue_url or rig.top.queue_url
    sqs = rig.sqs()
    chunks = [bodies[i : i + 10] for i in range(0, len(bodies), 10)]

    def send(part: list[list[str]]) -> None:
        for chunk in part:
            sqs.send_message_batch(
                QueueUrl=queue_url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(chunk)]
            )

    workers = [threading.Thread(target=send, args=(chunks[i::threads],)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def raw_drain(rig: Rig, count: int, threads: int, queue_url: str | None = None) -> float:
    """The ceiling: receive 10 + delete_message_batch, `threads` loops each with a boto3 client of
    its own (faster than one shared client), until `count` are deleted."""
    queue_url = queue_url or rig.top.queue_url
    done = [0]
    #: When the last message was deleted: the loops still in a long poll then end up to a second
    #: later, which is no part of the drain (the bridge's drain is timed to its last delete too).
    finished = [0.0]
    lock = threading.Lock()

    def loop(sqs: Any) -> None:
        while True:
            with lock:
                if done[0] >= count:
                    return
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
                "Messages", []
            )
            if not messages:
                continue
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            with lock:
                done[0] += len(messages)
                if done[0] >= count and not finished[0]:
                    finished[0] = time.perf_counter()

    workers = [threading.Thread(target=loop, args=(rig.sqs(),)) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return finished[0] - started


def bridge_drain(rig: Rig, count: int, threads: int, handoff_log: HandOffLog | None = None) -> float:
    """The bridge: received -> tasks accepted by Redis -> (hand-off recorded ->) deleted, `threads`
    loops, until `count` deleted."""
    bridge = rig.bridge(rig.sqs(), loop_clients=[rig.sqs() for _ in range(threads)], handoff_log=handoff_log)
    stop = threading.Event()
    started = time.perf_counter()
    runner = threading.Thread(target=bridge.run, args=(stop,), kwargs={"threads": threads})
    runner.start()
    while bridge.stats.snapshot()["deleted"] < count:
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    stop.set()
    runner.join()
    published = redis.Redis.from_url(rig.broker_url).llen("events")
    if published != count:
        raise RuntimeError(f"bridge published {published} tasks for {count} events")
    return elapsed
