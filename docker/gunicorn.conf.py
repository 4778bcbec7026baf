"""gunicorn's settings for both web services (docker/web.sh, via hr-web.sh and users-web.sh), read from the
environment like every other setting (docs/settings.md).

gthread: one process per core, each with a pool of threads. The requests spend most of their time
waiting on PostgreSQL, Redis or the monolith, which a thread does without holding the GIL; the
benchmarks (bench/RESULTS.md) measured the services this way.

prometheus_client multiprocess mode: a worker that exits (a restart after max-requests, a crash)
drops out of the live gauges, and its counters stay in its file (docs/observability.md).
"""

from shared_settings.env import env

worker_class = "gthread"
workers = env.int("WEB_CONCURRENCY", default=2)
threads = env.int("WEB_THREADS", default=8)
# A request still running this long after SIGTERM is cut off; compose's stop_grace_period is longer.
graceful_timeout = env.int("WEB_GRACEFUL_TIMEOUT", default=20)
# gthread keeps a connection open for the next request of the same client this long.
keepalive = 5
# One line per request on stdout, gunicorn's default format; AccessLogger builds the same line
# without copying every header and environ variable first (a third less CPU per line), and writes
# the lines in batches: at most 1 s late, and whatever is pending when a worker exits.
accesslog = "-"
logger_class = "shared_settings.access_log.AccessLogger"


def child_exit(server: object, worker: object) -> None:
    # Imported here, in the master, only when a worker exits: the master counts nothing itself.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
