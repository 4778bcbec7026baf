"""Repair writes of reconciliation: bring one read-model row in line with the monolith's state.

The same rules as `services.apply_user_event`: a version is never lowered and an
erased user stays erased. Reconciliation decides *which* users to repair; this
module only writes, one user per transaction.
"""

from __future__ import annotations

import enum
from datetime import date
from typing import Any

from django.db import transaction

from users_service.directory.models import UserRecord
from users_service.directory.services import SNAPSHOT_FIELDS


class RepairOutcome(enum.StrEnum):
    CREATED = "created"  # missing from the read model
    UPDATED = "updated"  # the read model had an older version
    CORRECTED = "corrected"  # same version, different data
    ERASED = "erased"  # gone upstream: now a tombstone
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # the read model is ahead, or the user is erased: left alone


def _normalised(name: str, value: Any) -> Any:
    if name in ("start_date", "end_date") and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def user_repair_from_upstream(*, snapshot: dict[str, Any]) -> RepairOutcome:
    """Write the monolith's representation of a user (payload fields plus `version`) if it is newer."""
    upstream_version = int(snapshot["version"])
    with transaction.atomic():
        record, created = UserRecord.objects.select_for_update().get_or_create(
            pk=snapshot["id"], defaults={"version": 0}
        )
        if record.erased or record.version > upstream_version:
            return RepairOutcome.SKIPPED
        wanted = {name: _normalised(name, snapshot[name]) for name in SNAPSHOT_FIELDS}
        differs = [name for name, value in wanted.items() if getattr(record, name) != value]
        if record.version == upstream_version and not differs:
            return RepairOutcome.UNCHANGED
        if created or record.version == 0:
            outcome = RepairOutcome.CREATED
        elif record.version < upstream_version:
            outcome = RepairOutcome.UPDATED
        else:
            outcome = RepairOutcome.CORRECTED
        for name, value in wanted.items():
            setattr(record, name, value)
        record.version = upstream_version
        record.save()
    return outcome


def user_tombstone_missing_upstream(*, user_id: str) -> RepairOutcome:
    """The monolith no longer has this user (erased while its event was lost): keep a tombstone."""
    with transaction.atomic():
        try:
            record = UserRecord.objects.select_for_update().get(pk=user_id)
        except UserRecord.DoesNotExist:
            return RepairOutcome.SKIPPED
        if record.erased:
            return RepairOutcome.UNCHANGED
        record.erased = True
        record.email = record.first_name = record.last_name = ""
        record.department = record.position = record.location = None
        record.start_date = record.end_date = None
        record.is_active = False
        # The erase event's version is unknown here; keeping ours never lowers it, and a late
        # `user.erased` finds the tombstone and changes nothing.
        record.save()
    return RepairOutcome.ERASED
