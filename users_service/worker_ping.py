"""Which Celery workers answer a ping: the one place `/health/` and `/ops/` ask.

Celery's `app.control.ping` borrows a connection from the app's pool, which has no socket timeout:
a broker that accepts the connection and then stops answering (a frozen Redis, a full network
buffer) would hold the caller for ever, and a health probe or the ops page with it. The ping here
goes over a connection of its own that gives up after `timeout` seconds and does not retry.
"""

from __future__ import annotations


def ping_workers(timeout: float) -> list[str]:
    """The node names (`<role>@<host>`) of the workers that answered within `timeout` seconds.

    Raises the broker's error (kombu's OperationalError, redis-py's errors, OSError) when the
    broker cannot be reached or stops answering."""
    from users_service.celery import app

    with app.connection_for_write(
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout, "max_retries": 0},
    ) as connection:
        replies = app.control.ping(timeout=timeout, connection=connection) or []
    return sorted(node for reply in replies for node in reply)
