"""Changes to what a user has access to; each writes `user.resources_changed` in the same transaction.

The user's `version` is not bumped: it counts changes to the user's snapshot, which the
read model and reconciliation compare, and a grant does not change the snapshot. The
event carries the user's current version as `aggregate_version`.
"""

from __future__ import annotations

import uuid

from django.db import transaction

from hr_monolith.outbox.services import outbox_write
from hr_monolith.people.events import user_resources_changed_event
from hr_monolith.people.models import User
from hr_monolith.resources.models import AccessLevel, ResourceGrant


def _locked_user(user_id: uuid.UUID | str) -> User:
    # The user row is the lock that orders concurrent grant changes for one user.
    return User.objects.select_for_update().get(pk=user_id)


def resource_grant(
    *, user_id: uuid.UUID | str, resource: str, level: str = AccessLevel.READ
) -> ResourceGrant:
    """Grant `resource` at `level` (or change the level of an existing grant)."""
    with transaction.atomic():
        user = _locked_user(user_id)
        grant = ResourceGrant.objects.filter(user=user, resource=resource).first()
        if grant is not None and grant.level == level:
            return grant
        grant = grant or ResourceGrant(user=user, resource=resource)
        grant.level = level
        grant.full_clean(validate_unique=False)
        grant.save()
        outbox_write(user_resources_changed_event(user))
    return grant


def resource_revoke(*, user_id: uuid.UUID | str, resource: str) -> bool:
    """Remove the grant; returns whether there was one (no event when nothing changed)."""
    with transaction.atomic():
        user = _locked_user(user_id)
        deleted, _ = ResourceGrant.objects.filter(user=user, resource=resource).delete()
        if deleted:
            outbox_write(user_resources_changed_event(user))
    return bool(deleted)
