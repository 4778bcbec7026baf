"""Resource cache changes: invalidation on the user's events, warming on `user.created`."""

from __future__ import annotations

import uuid

from users_service import cache_keys
from users_service.ops import metrics
from users_service.read_through import invalidate
from users_service.resources.selectors import CACHE_NAME, resources_for_user, resources_policy
from users_service.upstream import UpstreamNotFound


def resources_invalidate(*, user_id: uuid.UUID | str) -> None:
    """Drop the user's cached resources; raises `InvalidationFailed` if the cache refused."""
    invalidate(policy=resources_policy(), key=cache_keys.resources(user_id))


def resources_warm(*, user_id: uuid.UUID | str) -> str:
    """Fill the user's entry ahead of the first read; "cached" if it was there already."""
    try:
        lookup = resources_for_user(user_id=user_id)
    except UpstreamNotFound:
        # Erased (or never committed) before the warm-up ran: nothing to cache.
        return "unknown user"
    metrics.CACHE_WARMS.labels(cache=CACHE_NAME, result=lookup.cache_status).inc()
    return "cached" if lookup.cache_status == "hit" else "warmed"
