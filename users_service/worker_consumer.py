"""The workers' Celery consumer (`CELERY_WORKER_CONSUMER`): Celery's own, with one fix for a lost Redis
broker connection that otherwise ends the worker with "Unrecoverable error:
AttributeError("'NoneType' object has no attribute 'hostname'")" (celery 5.7.0, kombu 5.7.0), and a
broker channel that keeps one Redis client for its bookkeeping (`events/redis_transport.py`).

What happens without it, when the broker goes away while the worker holds a task it has not acked
(acks_late: any task running) and waits in BRPOP for the next (docs/worker-roles.md):

1. `Consumer.on_connection_error_after_connected` first calls `connection.collect()`. Closing the
   default channel there fails at once (the pending BRPOP is read from the dead socket: a
   ConnectionError, ignored), before the channel is marked closed; `collect()` then drops the
   transport, which sets `Transport.client` to None, and leaves the default channel in place.
2. It then calls `connection.close()`, which closes that default channel again. This time the
   close goes on to restore the unacked task through a new Redis pool, whose parameters come from
   `Transport.client`: None, so AttributeError, which neither kombu (`maybe_close_channel`) nor
   Celery (`ignore_errors`) treats as a connection error. It leaves the consumer's restart and the
   worker stops.

The fix: a connection that `collect()` has already torn down is closed without its default channel,
which is the state a successful `collect()` leaves. Nothing is lost: the unacked task stays in the
role's unacked keys in Redis and comes back after the role's visibility timeout (a broker restarted
without its data has lost it anyway, and the bridge's hand-off publishes it again).
"""

from __future__ import annotations

from typing import Any

from celery.worker.consumer import Consumer as CeleryConsumer

from events.redis_transport import transport_for


class Consumer(CeleryConsumer):
    def connection_for_read(self, heartbeat: float | None = None) -> Any:
        transport = transport_for(self.app.conf.broker_read_url or self.app.conf.broker_url)
        return self.ensure_connected(self.app.connection_for_read(heartbeat=heartbeat, transport=transport))

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        if connection is not None:
            connection.close = _close_after_collect(connection)
        super().on_connection_error_after_connected(exc)


def _close_after_collect(connection: Any) -> Any:
    close = connection.close

    def close_after_collect() -> None:
        if connection._transport is None:
            # collect() ran: the channel's transport has no client any more (see the module's doc).
            connection._default_channel = None
        close()

    return close_after_collect
