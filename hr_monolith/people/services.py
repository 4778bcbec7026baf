"""State changes of employees. Each locks the row, bumps `version` by one and writes
the event to the outbox in the same transaction."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from events.types import USER_STATE_FIELDS
from hr_monolith.catalogue.models import Department, Location, Position
from hr_monolith.outbox.services import outbox_forget_aggregate, outbox_write
from hr_monolith.people import events
from hr_monolith.people.models import User

#: Fields `user_update` may change.
UPDATABLE_FIELDS = tuple(name for name in USER_STATE_FIELDS if name != "is_active")


def _save(user: User, *, fields: list[str] | None = None) -> None:
    # Called inside the service's own transaction, whose rollback (to its savepoint when a caller's
    # transaction encloses it) undoes a refused save: no savepoint of its own (two statements less).
    user.full_clean(validate_unique=False)
    try:
        user.save(update_fields=fields)
    except IntegrityError as exc:
        if "email" in str(exc).lower() or "unique" in str(exc).lower():
            raise ValidationError({"email": ["A user with this email already exists."]}) from exc
        raise


def _locked(user_id: uuid.UUID | str) -> User:
    """The user row, locked until the transaction ends: concurrent changes of one user queue here,
    so each reads the version the previous one committed and versions rise by exactly one."""
    # `of` locks the user row only: PostgreSQL refuses FOR UPDATE on the nullable side of the
    # LEFT JOINs to the catalogue.
    return (
        User.objects.select_for_update(of=("self",))
        .select_related("department", "position", "location")
        .get(pk=user_id)
    )


def user_create(
    *,
    email: str,
    first_name: str,
    last_name: str,
    department: Department | None = None,
    position: Position | None = None,
    location: Location | None = None,
    start_date: datetime.date | None = None,
    end_date: datetime.date | None = None,
    is_active: bool = True,
) -> User:
    with transaction.atomic():
        user = User(
            email=email.strip().lower(),
            first_name=first_name,
            last_name=last_name,
            department=department,
            position=position,
            location=location,
            start_date=start_date,
            end_date=end_date,
            is_active=is_active,
            version=1,
        )
        _save(user)
        outbox_write(events.user_created_event(user))
    return user


def user_update(*, user_id: uuid.UUID | str, data: dict[str, Any]) -> User:
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise ValidationError({name: ["This field cannot be updated."] for name in sorted(unknown)})
    with transaction.atomic():
        user = _locked(user_id)
        changed = [name for name, value in data.items() if getattr(user, name) != value]
        if not changed:
            return user
        for name in changed:
            value = data[name]
            setattr(user, name, value.strip().lower() if name == "email" else value)
        user.version += 1
        _save(user, fields=[*changed, "version", "updated_at"])
        outbox_write(events.user_updated_event(user))
    return user


def _set_active(user_id: uuid.UUID | str, active: bool) -> User:
    with transaction.atomic():
        user = _locked(user_id)
        if user.is_active == active:
            return user
        user.is_active = active
        user.version += 1
        _save(user, fields=["is_active", "version", "updated_at"])
        builder = events.user_reactivated_event if active else events.user_deactivated_event
        outbox_write(builder(user))
    return user


def user_deactivate(*, user_id: uuid.UUID | str) -> User:
    return _set_active(user_id, False)


def user_reactivate(*, user_id: uuid.UUID | str) -> User:
    return _set_active(user_id, True)


def user_erase(*, user_id: uuid.UUID | str) -> None:
    """GDPR erase: delete the person and every trace of them in the monolith, in one transaction.

    - The row goes, and with it the person's resource grants (CASCADE).
    - The outbox keeps of the person's earlier events only what `user.erased` carries (the id);
      those not yet published are dropped: the erase event, newer than all of them, supersedes
      them, so a consumer ends in the erased state whether or not it saw them.
    - Admin's history keeps its entries about the person (who changed what, when) without the
      text that named them.
    """
    with transaction.atomic():
        user = _locked(user_id)
        user.version += 1
        erased = events.user_erased_event(user)
        outbox_forget_aggregate(
            aggregate_type=erased.aggregate_type, aggregate_id=erased.aggregate_id, payload=erased.payload
        )
        outbox_write(erased)
        _admin_history_forget(user)
        user.delete()


#: What admin's history shows of an erased person.
ERASED_REPR = "(erased employee)"


def _admin_history_forget(user: User) -> None:
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk)
    ).update(object_repr=ERASED_REPR, change_message="")
