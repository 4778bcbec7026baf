"""Every cache key of the users service is built here, and only here.

Keys start with `KEY_VERSION`: a deploy that changes the shape of a cached value
bumps it, so new code never reads old values and the old keys age out (TTL, LRU).
django-redis adds its own `KEY_PREFIX` ("users") and cache version in front.
"""

from __future__ import annotations

import uuid

from events.types import CATALOGUE_KINDS

#: v2: values are the JSON bodies the API serves (bytes), no longer the decoded data.
KEY_VERSION = "v2"


def catalogue(kind: str) -> str:
    if kind not in CATALOGUE_KINDS:
        raise ValueError(f"unknown catalogue kind {kind!r}")
    return f"{KEY_VERSION}:catalogue:{kind}"


def resources(user_id: uuid.UUID | str) -> str:
    # Normalised, so that "ABC…" and "abc…" name the same entry.
    return f"{KEY_VERSION}:resources:{uuid.UUID(str(user_id))}"


def fill_lock(key: str) -> str:
    """The lock held by the one request that fills `key` from the upstream."""
    return f"{key}:fill-lock"


def generation(key: str) -> str:
    """Changes at each invalidation of `key`, so that a fill racing an invalidation is not stored."""
    return f"{key}:generation"


def throttle(ident: str, window: int) -> str:
    """The request counter of one client (`ident`, DRF's throttle key) in one fixed time window."""
    return f"{KEY_VERSION}:throttle:{ident}:{window}"


def of_user(user_id: uuid.UUID | str) -> list[str]:
    """Every key that holds something of one user: what an erase deletes."""
    key = resources(user_id)
    return [key, fill_lock(key), generation(key)]


def ops_worker_status() -> str:
    """The `/ops/` page's last Celery ping answer (kept seconds: a ping waits out its timeout)."""
    return f"{KEY_VERSION}:ops:worker-status"
