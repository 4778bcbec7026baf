"""`manage.py users run_bridge`: drain SQS into Celery until SIGTERM/SIGINT.

Exits 0 within BRIDGE_STOP_GRACE_SECONDS (+ a moment) of the signal, whatever SQS does: the
batches in hand are finished, long polls are not waited for. Exits 1 with the reason when the
poison limit says the bridge itself looks broken.
"""

from __future__ import annotations

import os
import threading

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from prometheus_client import multiprocess

from events.bridge.poison_limit import BridgeBroken
from events.liveness import Liveness
from events.stopping import stop_on_signals
from events.topology import TopologyMissing
from shared_settings.commands import setting_option
from users_service.bridge.handoff import sweep_until
from users_service.bridge.stats_export import StatsExporter
from users_service.bridge.wiring import build_bridge, loop_turn


class Command(BaseCommand):
    help = "Drain the SQS queue and fan each event out as Celery tasks on Redis."

    def add_arguments(self, parser):
        setting_option(
            parser, "--threads", setting="BRIDGE_THREADS", type=int, help="Receive loops running side by side"
        )

    def handle(self, *args, threads: int, **options):
        if threads < 1:
            raise CommandError("--threads must be at least 1")
        try:
            bridge = build_bridge()
        except TopologyMissing as exc:
            raise CommandError(str(exc)) from exc
        # Loops stop receiving; each finishes (publishes, deletes) the batch in hand.
        announce = lambda signum: self.stdout.write(f"signal {signum}: finishing the batches in hand")  # noqa: E731
        with stop_on_signals(announce) as stop:
            exporter = StatsExporter(bridge.stats, loops=threads)
            exporting = threading.Thread(target=self._export_every, args=(exporter, stop), daemon=True)
            exporting.start()
            # Publishes again what the broker lost (docs/delivery.md); holds nothing SQS would miss.
            sweeping = threading.Thread(
                target=sweep_until, args=(stop,), kwargs={"publisher": bridge.publisher}, daemon=True
            )
            sweeping.start()
            self.stdout.write(f"bridge: {threads} loops on {bridge.queue_url}")
            try:
                bridge.run(stop, threads=threads, on_turn=loop_turn(Liveness(settings.LIVENESS_FILE)))
            except BridgeBroken as exc:
                raise CommandError(f"bridge stopped: {exc}") from exc
            finally:
                stop.set()
                exporting.join()
                sweeping.join(settings.BRIDGE_STOP_GRACE_SECONDS)
                exporter.export()
                bridge.publisher.close()
                # This bridge's lag and loops stop counting in /metrics (its counters stay).
                multiprocess.mark_process_dead(os.getpid())
        self.stdout.write(f"bridge stopped: {bridge.stats.snapshot()}")

    @staticmethod
    def _export_every(exporter: StatsExporter, stop: threading.Event) -> None:
        while not stop.wait(settings.BRIDGE_METRICS_INTERVAL):
            exporter.export()
