"""Reads of resource grants."""

from __future__ import annotations

import uuid

from hr_monolith.people.models import User
from hr_monolith.resources.models import ResourceGrant


def resources_for_user(*, user_id: uuid.UUID | str) -> list[ResourceGrant]:
    """The user's grants, ordered by resource; raises `User.DoesNotExist` for an unknown user."""
    user = User.objects.only("id").get(pk=user_id)
    return list(ResourceGrant.objects.filter(user=user).order_by("resource"))
