"""The worker's broker channel (events/redis_transport.py): one redis-py client for its bookkeeping (the
unacked hash), not one per command; late acks still record and remove every delivered task."""

from __future__ import annotations

import redis
from kombu import Connection, Exchange, Queue

from events.redis_transport import ReusedClientChannel, ReusedClientTransport

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
