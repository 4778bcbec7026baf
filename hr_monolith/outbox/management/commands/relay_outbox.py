"""`manage.py hr relay_outbox`: publish the outbox to SNS until SIGTERM (or once), and purge sent
rows older than OUTBOX_RETENTION_DAYS every OUTBOX_PURGE_INTERVAL seconds."""

from __future__ import annotations

import datetime
import threading
from contextlib import closing

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.aws import AwsSettings, client
from events.liveness import Liveness
from events.publisher import SnsPublisher
from events.stopping import stop_on_signals
from events.topology import TopologyMissing, TopologyNames, find_topic_arn
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.outbox.services import PurgeSchedule
from hr_monolith.outbox.wake import outbox_wake
from shared_settings.commands import setting_option


class Command(BaseCommand):
    help = "Publish pending outbox rows to the SNS topic (SIGTERM finishes the batch in hand)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Relay the backlog once, then exit.")
        setting_option(parser, "--batch-size", setting="RELAY_BATCH_SIZE", type=int, help="Rows per claim")
        setting_option(
            parser,
            "--in-flight",
            setting="RELAY_MAX_IN_FLIGHT",
            type=int,
            help="publish_batch calls in flight at once",
        )

    def handle(self, *args, once: bool, batch_size: int, in_flight: int, **options):
        if batch_size < 1 or in_flight < 1:
            raise CommandError("--batch-size and --in-flight must be at least 1")
        aws = AwsSettings.from_env()
        sns = client("sns", aws)
        # Found, never created: provisioning is provision_topology's; the relay may only publish.
        try:
            topic_arn = find_topic_arn(sns, TopologyNames.from_env().topic)
        except TopologyMissing as exc:
            raise CommandError(str(exc)) from exc
        purge = None
        if settings.OUTBOX_PURGE_INTERVAL > 0 and not once:
            purge = PurgeSchedule(
                retention=datetime.timedelta(days=settings.OUTBOX_RETENTION_DAYS),
                interval_seconds=settings.OUTBOX_PURGE_INTERVAL,
            )
        relay = OutboxRelay(
            SnsPublisher(sns, topic_arn),
            batch_size=batch_size,
            max_in_flight=in_flight,
            max_backoff_seconds=settings.RELAY_MAX_BACKOFF,
            max_attempts=settings.RELAY_MAX_ATTEMPTS,
            purge=purge,
        )
        # The handler only sets the flag: the pass in hand publishes and marks its rows first.
        with stop_on_signals() as stop, closing(relay):
            if once:
                self._once(relay, stop)
                return
            wake = outbox_wake()
            self.stdout.write(f"relaying outbox to {topic_arn} (idle: {type(wake).__name__})")
            try:
                relay.run(
                    stop,
                    poll_interval=settings.RELAY_POLL_INTERVAL,
                    wake=wake,
                    on_pass=Liveness(settings.LIVENESS_FILE).beat,
                    wake_poll_interval=settings.RELAY_WAKE_POLL_INTERVAL,
                )
            finally:
                wake.close()
            self.stdout.write("relay stopped")

    def _once(self, relay: OutboxRelay, stop: threading.Event) -> None:
        total = failed = parked = 0
        while not stop.is_set():
            outcome = relay.relay_once()
            total += outcome.published
            failed, parked = outcome.failed, parked + outcome.parked
            if failed or outcome.claimed < relay.batch_size:
                break
        self.stdout.write(f"published {total} events")
        if failed:
            raise CommandError(
                f"{failed} events could not be published; they stay pending (see last_error)"
                + (f", {parked} of them parked as failed (re-send them from admin)" if parked else "")
            )
