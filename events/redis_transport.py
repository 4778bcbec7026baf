"""kombu's Redis transport with a channel that keeps one redis-py client for the commands it sends
outside BRPOP: the workers consume with it (`users_service/worker_consumer.py`) and the bridge
publishes with it (`events/bridge/celery_publisher.py`), both for a plain `redis://` broker."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from kombu.transport import redis as kombu_redis


class ReusedClientChannel(kombu_redis.Channel):
    """kombu's Redis channel, but the commands it sends outside BRPOP share one redis-py client.

    kombu 5.7 builds a new client (`redis.Redis(connection_pool=…)`) for each `conn_or_acquire()`,
    and redis-py 8 fills some 170 response callbacks into a case-insensitive dict for each: 0.11 ms
    of CPU, measured. A worker with late acks built two per task: recording the delivered task in
    the unacked hash (`QoS.append`, on the consumer thread every task waits for) and removing it at
    the ack (bench/_profile_worker, bench/_profile_apply). The bridge built one per publish batch,
    an eighth of the publish's CPU for a batch of ten (bench/_profile_bridge).

    A client is only a handle on the channel's connection pool and is safe to share between threads
    (each command, and each pipeline's execute, takes a connection of the pool), so one serves every
    call. It follows the pool when the channel replaces it (after a lost connection, a fork, or at
    the restore of a closing channel): a client kept on the old pool would hold connections that
    closing the channel no longer closes.
    """

    _reused_client: Any = None

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        if client:
            yield client
            return
        pool = self.pool
        reused = self._reused_client
        if reused is None or reused.connection_pool is not pool:
            reused = self._reused_client = self._create_client()
        yield reused


class ReusedClientTransport(kombu_redis.Transport):
    Channel = ReusedClientChannel


def transport_for(broker_url: str | None) -> type[kombu_redis.Transport] | None:
    """The transport to connect to `broker_url` with: ours for a plain `redis://` broker; otherwise
    (TLS, Sentinel, another broker) None, which leaves the choice to kombu."""
    return ReusedClientTransport if broker_url and urlparse(broker_url).scheme == "redis" else None
