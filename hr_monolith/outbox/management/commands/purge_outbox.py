"""`manage.py hr purge_outbox`: delete sent outbox rows older than the retention."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from events.stopping import stop_on_signals
from hr_monolith.outbox.services import outbox_purge
from shared_settings.commands import setting_option


class Command(BaseCommand):
    help = "Delete sent outbox rows older than OUTBOX_RETENTION_DAYS (pending rows are never deleted)."

    def add_arguments(self, parser):
        setting_option(
            parser,
            "--older-than-days",
            setting="OUTBOX_RETENTION_DAYS",
            type=float,
            help="Delete sent rows older than this many days",
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, older_than_days: float, batch_size: int, **options):
        if older_than_days < 0 or batch_size < 1:
            raise CommandError("--older-than-days must be >= 0 and --batch-size >= 1")
        deleted = 0
        # Each batch is its own transaction: stop between batches, never inside one.
        with (
            stop_on_signals() as stop,
            tqdm(desc="purging sent outbox rows", unit="rows", disable=None) as bar,
        ):
            for count in outbox_purge(
                older_than=datetime.timedelta(days=older_than_days), batch_size=batch_size
            ):
                deleted += count
                bar.update(count)
                if stop.is_set():
                    break
        stopped = " (stopped early)" if stop.is_set() else ""
        self.stdout.write(f"deleted {deleted} sent outbox rows older than {older_than_days:g} days{stopped}")
