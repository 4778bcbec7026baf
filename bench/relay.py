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
import time
from pathlib import Path
from typing import Any

from bench._events import user_envelope
from bench._sqs import SqsDrain
from bench.common import emit, log, result
from devstack.localstack import LocalStackServer
from devstack.processes import free_port
from events import types
from events.aws import AwsSettings, client
from events.envelope import Envelope
from events.topology import TopologyNames, ensure_topology

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


def measure(rows: int, baseline_seconds: float, var_dir: str) -> dict[str, Any]:
    """Relay a backlog of `rows` while a drain keeps the queue shallow, then the naive loop on the same
    rows (marked pending again) for `baseline_seconds`."""
    from hr_monolith.outbox.models import OutboxEvent

    log("starting LocalStack")
    server = LocalStackServer(free_port(), log_dir=Path(var_dir) / "log").start()
    drain = None
    try:
        aws = AwsSettings(endpoint_url=server.url, access_key_id="test", secret_access_key="test")
        sns, sqs = client("sns", aws), client("sqs", aws)
        topology = ensure_topology(sns, sqs, TopologyNames(topic="bench-relay", queue="bench-relay"))
        drain = SqsDrain(sqs, topology.queue_url, threads=DRAIN_THREADS).start()

        log(f"filling an outbox backlog of {rows} rows")
        fill_backlog(rows)
        log("relay (publish_batch, in flight) ...")
        relayed, relay_seconds = run_relay(sns, topology.topic_arn)
        delivered = drain.wait_for(relayed, timeout=60)
        drained_after_relay = drain.count
        log(f"relay: {relayed} in {relay_seconds:.1f}s; drained {drained_after_relay}")

        OutboxEvent.objects.update(sent_at=None, attempts=0)
        log(f"naive loop (one publish per event) for {baseline_seconds:.0f}s ...")
        naive, naive_seconds = run_naive(sns, topology.topic_arn, baseline_seconds)
        log(f"naive: {naive} in {naive_seconds:.1f}s")
    finally:
        if drain is not None:
            drain.stop()
        server.stop()
    return {
        "relay_events": relayed,
        "relay_seconds": relay_seconds,
        "baseline_events": naive,
        "baseline_seconds": naive_seconds,
        "all_relayed_events_delivered": delivered and drained_after_relay == relayed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--baseline-seconds", type=float, default=10.0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-relay-") as var_dir:
        setup_django(var_dir)
        run = measure(args.rows, args.baseline_seconds, var_dir)

    emit(
        result(
            "relay",
            unit="events/s",
            value=run["relay_events"] / run["relay_seconds"],
            baseline=run["baseline_events"] / run["baseline_seconds"],
            params={
                "rows": args.rows,
                "batch_size": BATCH_SIZE,
                "in_flight": IN_FLIGHT,
                "database": "sqlite",
                "emulator": "localstack 4.13.1 (native)",
                "baseline": f"one publish + one UPDATE per row for {args.baseline_seconds:g}s",
                "drain_threads": DRAIN_THREADS,
            },
            relay_events=run["relay_events"],
            relay_seconds=round(run["relay_seconds"], 2),
            baseline_events=run["baseline_events"],
            baseline_seconds=round(run["baseline_seconds"], 2),
            all_relayed_events_delivered=run["all_relayed_events_delivered"],
        )
    )


if __name__ == "__main__":
    main()
