"""The worker's broker channel: one redis-py client for its bookkeeping (the unacked hash), not one per
command; late acks still record and remove every delivered task."""

from __future__ import annotations

import redis
from kombu import Connection, Exchange, Queue

from users_service.worker_consumer import ReusedClientChannel, ReusedClientTransport, read_transport

QUEUE = "consumer-test"


def _received(connection: Connection, count: int) -> list:
    messages: list = []
    queue = Queue(QUEUE, Exchange(QUEUE), QUEUE)
    with connection.Consumer(queue, callbacks=[lambda body, message: messages.append(message)]) as consumer:
        consumer.qos(prefetch_count=count)
        while len(messages) < count:
            connection.drain_events(timeout=5)
    return messages


def test_late_acks_share_one_client_and_empty_the_unacked_hash(redis_url, monkeypatch):
    created = []
    original = ReusedClientChannel._create_client

    def counted(self, asynchronous=False):
        client = original(self, asynchronous=asynchronous)
        if not asynchronous:  # the BRPOP client is made once per channel either way
            created.append(client)
        return client

    monkeypatch.setattr(ReusedClientChannel, "_create_client", counted)
    raw = redis.Redis.from_url(redis_url)
    with Connection(redis_url, transport=ReusedClientTransport) as connection:
        producer = connection.Producer()
        queue = Queue(QUEUE, Exchange(QUEUE), QUEUE)
        for n in range(5):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=QUEUE, declare=[queue])
        messages = _received(connection, 5)
        assert raw.hlen("unacked") == 5  # each delivery recorded, as kombu's own channel does
        for message in messages:
            message.ack()
        assert raw.hlen("unacked") == 0
        assert raw.zcard("unacked_index") == 0
    # kombu's channel builds a client for each record and each ack: ten here.
    assert len(created) == 1


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
    assert read_transport("redis://127.0.0.1:6379/0") is ReusedClientTransport
    assert read_transport("rediss://127.0.0.1:6380/0") is None
    assert read_transport("sentinel://127.0.0.1:26379") is None
    assert read_transport(None) is None
