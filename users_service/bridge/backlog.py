"""How far behind a worker role's queue is: when the oldest task still waiting in it was queued.

The hand-off sweeper asks before it publishes an event's tasks again (docs/delivery.md): a queue
is first in, first out, so an event handed over after the oldest waiting task was queued may
still be waiting behind it. Publishing it again would only add a duplicate to the backlog.
"""

from __future__ import annotations

import json
from functools import lru_cache

import redis
from django.conf import settings

from events.errors import TransientError
from users_service.ops import metrics


@lru_cache(maxsize=4)
def _broker(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=settings.BRIDGE_BROKER_CONNECT_TIMEOUT,
        socket_timeout=settings.BRIDGE_BROKER_SOCKET_TIMEOUT,
    )


def oldest_queued_at(queue: str) -> float | None:
    """Epoch seconds at which the oldest task waiting in `queue` was queued; None when none waits
    (or it carries no time). kombu's Redis transport pushes on the left and pops on the right of
    the list named after the queue, so the oldest is its last item. Raises `TransientError` when
    the broker does not answer."""
    from users_service.celery import app

    try:
        oldest = _broker(app.conf.broker_url).lindex(queue, -1)
    except (redis.RedisError, OSError) as exc:
        raise TransientError(f"broker unavailable: {exc!r}") from exc
    if oldest is None:
        return None
    try:
        queued_at = json.loads(oldest)["headers"][metrics.QUEUED_AT_HEADER]
    except (ValueError, KeyError, TypeError):
        return None
    return float(queued_at) if isinstance(queued_at, int | float) else None
