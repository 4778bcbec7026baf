"""A worker killed during its restore sweep leaves the role's sweep lock (`unacked_mutex:<role>`) behind:
no worker of the role restores a task until it expires. It must expire well within the role's
visibility timeout, not after kombu's default 300 s."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection

from events.redis_transport import ReusedClientTransport
from users_service import queues


@pytest.mark.parametrize("role", queues.ROLES.values(), ids=lambda role: role.queue)
def test_a_sweep_lock_left_by_a_killed_worker_expires_within_the_visibility_timeout(role, redis_url):
    options = role.transport_options()
    with Connection(redis_url, transport=ReusedClientTransport, transport_options=options) as connection:
        channel = connection.default_channel
        # What kombu's restore_visible takes (kombu.transport.redis.Mutex); the killed worker never
        # releases it.
        with channel.conn_or_acquire() as client:
            assert client.lock(channel.unacked_mutex_key, timeout=channel.unacked_mutex_expire).acquire(
                blocking=False
            )
    left_for_ms = redis.Redis.from_url(redis_url).pttl(options["unacked_mutex_key"])
    assert 0 < left_for_ms <= role.visibility_timeout * 1000
