"""Pagination of the monolith's lists: `limit`/`offset`, a bigger `limit` clamped to `HR_API_MAX_LIMIT`."""

from __future__ import annotations

from django.conf import settings
from rest_framework.pagination import LimitOffsetPagination


class ApiPagination(LimitOffsetPagination):
    """DRF's clamping: `?limit=1000000` answers `HR_API_MAX_LIMIT` rows and a `next` link, so a
    client that pages by `next` (the users service's reconciliation) reads everything either way."""

    @property
    def max_limit(self) -> int:
        return settings.HR_API_MAX_LIMIT
