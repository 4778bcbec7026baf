"""Catalogue cache changes: invalidation when the monolith says a catalogue changed."""

from __future__ import annotations

from users_service import cache_keys
from users_service.catalogue.selectors import catalogue_policy
from users_service.read_through import invalidate


def catalogue_invalidate(*, kind: str) -> None:
    """Drop the cached catalogue `kind`; raises `InvalidationFailed` if the cache refused."""
    invalidate(policy=catalogue_policy(), key=cache_keys.catalogue(kind))
