"""`manage.py hr backfill_users`: a snapshot event of every (or a filtered set of) user into the
outbox, in batches, resumable after an interruption."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from events.stopping import stop_on_signals
from hr_monolith.outbox.models import OutboxBackfill
from hr_monolith.people import backfill
from shared_settings.commands import setting_option


class Command(BaseCommand):
    help = (
        "Write a user.updated snapshot of every user (or those matching the filters) to the outbox, "
        "in batches. An interrupted run continues with --resume."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--department",
            action="append",
            dest="departments",
            metavar="CODE",
            help="Only users of this department (repeatable).",
        )
        state = parser.add_mutually_exclusive_group()
        state.add_argument("--active", action="store_const", const=True, dest="active")
        state.add_argument("--inactive", action="store_const", const=False, dest="active")
        parser.add_argument(
            "--id", action="append", dest="ids", metavar="UUID", help="Only this user (repeatable)."
        )
        setting_option(
            parser, "--batch-size", setting="BACKFILL_BATCH_SIZE", type=int, help="Users per transaction"
        )
        parser.add_argument("--resume", action="store_true", help="Continue the newest unfinished run.")
        parser.add_argument("--new", action="store_true", help="Start a new run even if one is unfinished.")

    def handle(self, *args, departments, active, ids, batch_size: int, resume: bool, new: bool, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        run = self._run(departments=departments, active=active, ids=ids, resume=resume, new=new)
        with (
            stop_on_signals() as stop,
            tqdm(
                total=backfill.backfill_remaining(run), desc=f"backfill #{run.pk}", unit="users", disable=None
            ) as bar,
        ):
            # The stop flag is checked between batches: each batch commits whole or not at all.
            while not stop.is_set() and (written := backfill.backfill_batch(run, batch_size=batch_size)):
                bar.update(written)
        run.refresh_from_db()
        if run.finished_at is None:
            self.stdout.write(
                f"backfill #{run.pk} interrupted after {run.emitted} events; continue with --resume"
            )
        else:
            self.stdout.write(f"backfill #{run.pk} finished: {run.emitted} events (trace_id {run.trace_id})")

    def _run(self, *, departments, active, ids, resume: bool, new: bool) -> OutboxBackfill:
        unfinished = backfill.backfill_unfinished()
        if resume:
            if unfinished is None:
                raise CommandError("no unfinished backfill to resume")
            if departments or active is not None or ids:
                raise CommandError("--resume continues with the run's own filters; give no filter")
            self.stdout.write(f"resuming backfill #{unfinished.pk} after {unfinished.emitted} events")
            return unfinished
        if unfinished is not None and not new:
            raise CommandError(
                f"backfill #{unfinished.pk} is unfinished ({unfinished.emitted} events): "
                "use --resume to continue it or --new to start another"
            )
        try:
            return backfill.backfill_start(departments=departments, active=active, ids=ids)
        except ValueError as exc:
            raise CommandError(f"--id: {exc}") from exc
