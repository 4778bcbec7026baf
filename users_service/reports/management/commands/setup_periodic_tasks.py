"""`manage.py users setup_periodic_tasks`: schedule the reports and cleanups (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from users_service.reports.schedules import setup_periodic_tasks


class Command(BaseCommand):
    help = "Create or update the periodic tasks of the reports and cleanups; never deletes other tasks."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--reset-schedules",
            action="store_true",
            help="also put back the default schedules (overwrites edits made in admin)",
        )

    def handle(self, *args, **options) -> None:
        outcome = setup_periodic_tasks(reset_schedules=options["reset_schedules"])
        for name, created in outcome.items():
            self.stdout.write(f"{'created' if created else 'up to date'}: {name}")
