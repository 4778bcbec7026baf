"""kombu's Redis transport with one redis-py client a channel: the client follows the channel's pool,
and only a plain `redis://` broker gets it (the workers' consumer and the bridge's publisher use it)."""

from __future__ import annotations

from kombu import Connection

from events.bridge.celery_publisher import CeleryTaskPublisher
from events.redis_transport import ReusedClientTransport, transport_for
from tests.events.bridge.helpers import celery_app


def test_a_replaced_pool_gets_a_new_client(redis_url):
    with Connection(redis_url, transport=ReusedClientTransport) as connection:
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as again:
            assert first is again
        channel._disconnect_pools()  # what the channel does after a lost connection
        with channel.conn_or_acquire() as after:
            assert after is not first
            assert after.connection_pool is channel.pool
            assert after.ping()


def test_only_a_plain_redis_broker_gets_the_channel():
    assert transport_for("redis://127.0.0.1:6379/0") is ReusedClientTransport
    assert transport_for("rediss://127.0.0.1:6380/0") is None
    assert transport_for("sentinel://127.0.0.1:26379") is None
    assert transport_for(None) is None


def test_the_bridge_publishes_with_it_on_a_plain_redis_broker_only():
    plain = CeleryTaskPublisher(celery_app("redis://127.0.0.1:6379/0")).connection()
    tls = CeleryTaskPublisher(celery_app("rediss://127.0.0.1:6380/0")).connection()
    assert plain.transport_cls is ReusedClientTransport
    assert tls.transport_cls == "rediss"  # kombu's own
