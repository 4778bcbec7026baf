"""Read-only queries on the read model."""

from __future__ import annotations

from django.db.models import QuerySet

from users_service.directory.models import UserRecord


def user_list() -> QuerySet[UserRecord]:
    """Known users, tombstones excluded."""
    return UserRecord.objects.filter(erased=False, version__gt=0).order_by("last_name", "first_name", "id")


def user_get(user_id: str) -> UserRecord:
    """A user or its tombstone; raises `UserRecord.DoesNotExist` until an event arrived."""
    return UserRecord.objects.get(pk=user_id, version__gt=0)
