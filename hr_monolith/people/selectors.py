"""Read-only queries on employees."""

from __future__ import annotations

from django.db.models import QuerySet

from hr_monolith.people.models import User


def user_list() -> QuerySet[User]:
    return User.objects.select_related("department", "position", "location").order_by(
        "last_name", "first_name", "id"
    )


def user_get(user_id: str) -> User:
    """Raises `User.DoesNotExist` (rendered as 404)."""
    return user_list().get(pk=user_id)
