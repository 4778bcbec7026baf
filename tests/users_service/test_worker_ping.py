"""The worker ping behind `/health/` and `/ops/` (users_service/worker_ping.py): bounded by its
timeout whatever the broker does, and still hearing a real worker."""

from __future__ import annotations

import threading

import pytest

from tests.broker import StallingProxy, start_events_worker
from users_service.worker_ping import ping_workers


def test_a_broker_that_stalls_at_the_broadcast_fails_the_ping_within_its_timeout(redis_url, point_celery):
    # The ping's reply queue is set up and the request is about to go out when the broker stops
    # answering. Celery sends the request through the app's producer pool, whose connections have no
    # socket timeout: the ping must send it over its own connection, which gives up.
    broker = StallingProxy(redis_url, b"PUBLISH")
    point_celery(broker.url)
    outcome: list[object] = []

    def ping() -> None:
        try:
            outcome.append(ping_workers(0.5))
        except Exception as exc:  # whatever the broker's client raised
            outcome.append(exc)

    asking = threading.Thread(target=ping, daemon=True)
    try:
        asking.start()
        asking.join(timeout=30)  # the ping gives up after 0.5 s; 30 s only ends a hung test
        assert broker.stalled.is_set(), "the broker never saw the broadcast"
        assert not asking.is_alive(), "the worker ping hung on a broker that stalled at the broadcast"
    finally:
        broker.close()
    assert isinstance(outcome[0], Exception), outcome


@pytest.mark.e2e
def test_a_running_worker_answers_through_the_proxy(redis_url, point_celery, worker_env, tmp_path):
    # The same path with a broker that never stalls (the command below is never sent): the reply
    # comes back over the ping's own connection.
    broker = StallingProxy(redis_url, b"FLUSHALL")
    point_celery(broker.url)
    worker = start_events_worker("ping-worker", worker_env, tmp_path)
    answered: list[list[str]] = []
    try:
        for _ in range(30):  # "ready." comes a moment before the worker listens to broadcasts
            answered.append(ping_workers(1.0))
            if answered[-1]:
                break
    finally:
        worker.stop()
        broker.close()
    assert [node.split("@")[0] for node in answered[-1]] == ["events"]
