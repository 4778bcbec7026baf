"""gunicorn settings both web scripts load (`-c docker/gunicorn.conf.py`).

prometheus_client multiprocess mode: a worker that exits (a restart after max-requests, a crash)
drops out of the live gauges, and its counters stay in its file (docs/observability.md).
"""


def child_exit(server: object, worker: object) -> None:
    # Imported here, in the master, only when a worker exits: the master counts nothing itself.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
