"""Which Celery workers answer a ping: the one place `/health/` and `/ops/` ask.

Celery's `app.control.ping` borrows a connection from the app's pool and sends its request through
the app's producer pool; neither has a socket timeout. A broker that accepts the connection and
then stops answering (a frozen Redis, a full network buffer) would hold the caller for ever, and a
health probe or the ops page with it. The ping here does all of it (the reply queue, the request,
the replies) over one connection of its own that gives up after `timeout` seconds and does not
retry.
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
        # Celery's own mailbox (its exchange, serializer, queue expiry), bound to this connection.
        # Without a producer pool, kombu sends the request on this connection's channel.
        mailbox = app.control.mailbox(connection)
        mailbox._producer_pool = None
        replies = mailbox.multi_call("ping", timeout=timeout) or []
    return sorted(node for reply in replies for node in reply)
