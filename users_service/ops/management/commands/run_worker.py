"""`manage.py users run_worker <role>`: the Celery worker of one queue role (users_service/queues.py).

The worker runs in this process with the role's queue, node name, pool, concurrency,
prefetch, time limits and broker transport options (its own unacked keys and
visibility timeout), so that the Procfile and compose name only the role. SIGTERM
is Celery's warm shutdown: tasks in hand finish, unstarted ones go back to the queue.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from users_service.celery import app
from users_service.queues import ROLES, WorkerRole


def worker_argv(role: WorkerRole, *, concurrency: int | None, loglevel: str) -> list[str]:
    return ["worker", f"--loglevel={loglevel}", *role.worker_arguments(concurrency=concurrency)]


class Command(BaseCommand):
    help = "Run the Celery worker of one queue role: " + "; ".join(
        f"{name}: {role.runs} ({role.pool}, concurrency {role.concurrency})" for name, role in ROLES.items()
    )
    # Celery's Django fixup runs the system checks itself as the worker starts.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("role", help=f"one of: {', '.join(ROLES)}")
        parser.add_argument("--concurrency", type=int, help="instead of the role's declared concurrency")
        parser.add_argument("--loglevel", default="INFO", help="the worker's log level (default INFO)")
        parser.add_argument(
            "--print", action="store_true", help="print the worker's options and transport options, and exit"
        )

    def handle(self, *args, **options) -> None:
        role = ROLES.get(options["role"])
        if role is None:
            raise CommandError(f"unknown worker role {options['role']!r}; known: {', '.join(ROLES)}")
        concurrency = options["concurrency"]
        if concurrency is not None and concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        argv = worker_argv(role, concurrency=concurrency, loglevel=options["loglevel"])
        transport_options = {**settings.CELERY_BROKER_TRANSPORT_OPTIONS, **role.transport_options()}
        if options["print"]:
            self.stdout.write(" ".join(["celery", "-A", "users_service", *argv]))
            self.stdout.write(json.dumps({"broker_transport_options": transport_options}, sort_keys=True))
            return
        app.conf.broker_transport_options = transport_options
        code = app.start(argv)
        if code:
            raise SystemExit(code)
