"""`manage.py users run_report <name> [--period KEY] [--force]`: run a report now, in this process."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from users_service.reports import services
from users_service.reports.definitions import REPORTS, get_report
from users_service.reports.models import ReportRun
from users_service.reports.periods import FORMATS, PeriodError
from users_service.upstream import UpstreamError


class Command(BaseCommand):
    help = (
        "Run a report now for a period (default: the period its schedule would pick) and print its figures."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help=f"one of: {', '.join(sorted(REPORTS))}")
        parser.add_argument(
            "--period", help="e.g. 2026-11-23 (daily), 2026-W47 (weekly), 2026-11-23T15 (hourly)"
        )
        parser.add_argument("--force", action="store_true", help="compute again even if the run succeeded")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar")

    def handle(self, *args, **options) -> None:
        name = options["name"]
        try:
            report = get_report(name)
        except KeyError as exc:
            raise CommandError(exc.args[0]) from None
        try:
            period = services.report_period(name=name, period=options["period"])
        except PeriodError as exc:
            raise CommandError(f"{exc} (format for {name}: {FORMATS[report.granularity][0]})") from None
        bars: list[tqdm] = []

        def progress(done: int, total: int) -> None:
            # Only reports that page through something long report progress; the others show no bar.
            if not bars:
                bars.append(
                    tqdm(
                        total=total,
                        desc=f"{name} {period.key}",
                        file=self.stderr._out,
                        disable=options["no_progress"],
                    )
                )
            bars[0].total = total
            bars[0].update(done - bars[0].n)

        try:
            run = services.report_run(name=name, period=period.key, force=options["force"], progress=progress)
        except UpstreamError as exc:
            raise CommandError(f"{name} for {period.key} failed: {exc}") from None
        finally:
            for bar in bars:
                bar.close()
        if run.status != ReportRun.Status.SUCCEEDED:
            raise CommandError(f"run {run.pk} of {name} for {run.period} is {run.status}: {run.error}")
        self.stdout.write(f"run {run.pk}: {name} {run.period} {run.status}")
        self.stdout.write(json.dumps(run.figures, indent=2, sort_keys=True))
