"""`manage.py hr relay_outbox`: publish the outbox to SNS until SIGTERM (or once)."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from events.aws import AwsSettings, client
from events.publisher import SnsPublisher
from events.topology import TopologyNames
from hr_monolith.outbox.relay import OutboxRelay


class Command(BaseCommand):
    help = "Publish pending outbox rows to the SNS topic (SIGTERM finishes the batch in hand)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Relay the backlog once, then exit.")
        parser.add_argument("--batch-size", type=int, default=settings.RELAY_BATCH_SIZE)

    def handle(self, *args, once: bool, batch_size: int, **options):
        aws = AwsSettings.from_env()
        sns = client("sns", aws)
        topic_arn = sns.create_topic(Name=TopologyNames.from_env().topic)["TopicArn"]
        relay = OutboxRelay(SnsPublisher(sns, topic_arn), batch_size=batch_size)
        try:
            if once:
                total = 0
                while (outcome := relay.relay_once()).claimed:
                    total += outcome.published
                    if outcome.failed:
                        break
                self.stdout.write(f"published {total} events")
                return
            stop = threading.Event()
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
            self.stdout.write(f"relaying outbox to {topic_arn}")
            relay.run(stop, poll_interval=settings.RELAY_POLL_INTERVAL)
            self.stdout.write("relay stopped")
        finally:
            relay.close()
