"""Resource reads: read-through the cache, filled from the monolith's `/api/users/<uuid>/resources/`."""

from __future__ import annotations

import uuid

from django.conf import settings

from users_service import cache_keys
from users_service.cached_response import json_body
from users_service.read_through import CachePolicy, Lookup, read_through
from users_service.upstream import monolith_get

CACHE_NAME = "resources"


def resources_policy() -> CachePolicy:
    return CachePolicy(CACHE_NAME, settings.RESOURCES_CACHE_TTL)


def resources_entry(*, user_id: uuid.UUID | str) -> tuple[CachePolicy, str]:
    """The cache and key holding the user's resources."""
    return resources_policy(), cache_keys.resources(user_id)


def resources_for_user(*, user_id: uuid.UUID | str) -> Lookup:
    """The monolith's `{"user_id", "resources"}` for the user as a JSON body (`lookup.json()` decodes
    it); `UpstreamNotFound` for an unknown user."""
    user_id = uuid.UUID(str(user_id))
    policy, key = resources_entry(user_id=user_id)
    return read_through(
        policy=policy,
        key=key,
        fetch=lambda: json_body(monolith_get(f"/api/users/{user_id}/resources/")),
    )
