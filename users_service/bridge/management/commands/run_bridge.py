"""`manage.py users run_bridge`: drain SQS into Celery until SIGTERM/SIGINT."""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from users_service.bridge.wiring import build_bridge


class Command(BaseCommand):
    help = "Drain the SQS queue and fan each event out as Celery tasks on Redis."

    def add_arguments(self, parser):
        parser.add_argument(
            "--threads",
            type=int,
            default=settings.BRIDGE_THREADS,
            help="Receive loops running side by side (default: BRIDGE_THREADS).",
        )

    def handle(self, *args, threads: int, **options):
        bridge = build_bridge()
        stop = threading.Event()

        def request_stop(signum, _frame):
            self.stdout.write(f"signal {signum}: finishing the batches in hand")
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, request_stop)
        self.stdout.write(f"bridge: {threads} loops on {bridge.queue_url}")
        bridge.run(stop, threads=threads)
        self.stdout.write(f"bridge stopped: {bridge.stats.snapshot()}")
