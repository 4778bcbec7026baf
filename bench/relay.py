"""Benchmark `relay`: outbox relay throughput from a 10,000-row backlog, batched
(publish_batch of 10, several calls in flight) against a naive loop of one `publish` per event.

Runs against LocalStack natively (the moto server slows as a queue deepens); background
threads keep the subscribed queue drained while both are measured.

    python -m bench.relay [--rows 10000] [--baseline-seconds 10]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from bench.common import emit, log, result
from devstack.localstack import LocalStackServer
from devstack.processes import free_port
from events import types
from events.aws import AwsSettings, client
from events.envelope import Envelope
from events.topology import TopologyNames, ensure_topology
from tests.samples import user_envelope

BATCH_SIZE = 200
IN_FLIGHT = 8
DRAIN_THREADS = 3


def setup_django(var_dir: str) -> None:
    os.environ.pop("DATABASE_URL", None)
    os.environ["VAR_DIR"] = var_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "hr_monolith.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def fill_backlog(rows: int) -> None:
    from django.db import transaction

    from hr_monolith.outbox.services import outbox_write_many

    def envelope(i: int) -> Envelope:
        return user_envelope(
            types.USER_CREATED,
            email=f"bench{i}@example.com",
            first_name="Bench",
            last_name=str(i),
            position="ENG1",
            start_date="2020-01-01",
        )

    for start in range(0, rows, 1000):
        with transaction.atomic():
            outbox_write_many(envelope(i) for i in range(start, min(rows, start + 1000)))


class Drain:
    """Receive-and-delete loops that keep the queue shallow while the relays publish."""

    def __init__(self, sqs, queue_url: str) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self.count = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(DRAIN_THREADS)]

    def start(self) -> Drain:
        for thread in self._threads:
            thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            if not messages:
                continue
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            with self._lock:
                self.count += len(messages)

    def wait_for(self, total: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= total:
                return True
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5)


def run_relay(sns, topic_arn: str) -> tuple[int, float]:
    from events.publisher import SnsPublisher
    from hr_monolith.outbox.relay import OutboxRelay

    relay = OutboxRelay(SnsPublisher(sns, topic_arn), batch_size=BATCH_SIZE, max_in_flight=IN_FLIGHT)
    published = 0
    started = time.perf_counter()
    try:
        while (outcome := relay.relay_once()).claimed:
            published += outcome.published
    finally:
        relay.close()
    return published, time.perf_counter() - started


def run_naive(sns, topic_arn: str, seconds: float) -> tuple[int, float]:
    """The shape the relay replaces: one row, one `publish`, one UPDATE, until time is up."""
    from django.db.models import F
    from django.utils import timezone

    from hr_monolith.outbox.models import OutboxEvent

    published = 0
    started = time.perf_counter()
    for row in OutboxEvent.objects.filter(sent_at__isnull=True).order_by("id").iterator():
        if time.perf_counter() - started > seconds:
            break
        envelope = Envelope(**row.envelope)
        sns.publish(
            TopicArn=topic_arn,
            Message=envelope.to_json(),
            MessageAttributes={
                "event_type": {"DataType": "String", "StringValue": envelope.event_type},
                "schema_version": {"DataType": "Number", "StringValue": str(envelope.schema_version)},
            },
        )
        OutboxEvent.objects.filter(pk=row.pk).update(sent_at=timezone.now(), attempts=F("attempts") + 1)
        published += 1
    return published, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-relay-") as var_dir:
        setup_django(var_dir)
        from hr_monolith.outbox.models import OutboxEvent

        log("starting LocalStack")
        server = LocalStackServer(free_port(), log_dir=Path(var_dir) / "log").start()
        drain = None
        try:
            aws = AwsSettings(endpoint_url=server.url, access_key_id="test", secret_access_key="test")
            sns, sqs = client("sns", aws), client("sqs", aws)
            topology = ensure_topology(sns, sqs, TopologyNames(topic="bench-relay", queue="bench-relay"))
            drain = Drain(sqs, topology.queue_url).start()

            log(f"filling an outbox backlog of {args.rows} rows")
            fill_backlog(args.rows)
            log("relay (publish_batch, in flight) ...")
            relayed, relay_seconds = run_relay(sns, topology.topic_arn)
            delivered = drain.wait_for(relayed, timeout=60)
            drained_after_relay = drain.count
            log(f"relay: {relayed} in {relay_seconds:.1f}s; drained {drained_after_relay}")

            OutboxEvent.objects.update(sent_at=None, attempts=0)
            log(f"naive loop (one publish per event) for {args.baseline_seconds:.0f}s ...")
            naive, naive_seconds = run_naive(sns, topology.topic_arn, args.baseline_seconds)
            log(f"naive: {naive} in {naive_seconds:.1f}s")
        finally:
            if drain is not None:
                drain.stop()
            server.stop()

    value = relayed / relay_seconds
    baseline = naive / naive_seconds
    emit(
        result(
            "relay",
            unit="events/s",
            value=value,
            baseline=baseline,
            params={
                "rows": args.rows,
                "batch_size": BATCH_SIZE,
                "in_flight": IN_FLIGHT,
                "database": "sqlite",
                "emulator": "localstack 4.13.1 (native)",
                "baseline": f"one publish + one UPDATE per row for {args.baseline_seconds:g}s",
                "drain_threads": DRAIN_THREADS,
            },
            relay_events=relayed,
            relay_seconds=round(relay_seconds, 2),
            baseline_events=naive,
            baseline_seconds=round(naive_seconds, 2),
            all_relayed_events_delivered=delivered and drained_after_relay == relayed,
        )
    )


if __name__ == "__main__":
    main()
