"""Payload builders: one per user event type, each listing its fields explicitly."""

from __future__ import annotations

from typing import Any

from events import types
from events.envelope import Envelope
from hr_monolith.outbox.services import producer_name
from hr_monolith.people.models import User


def _code(entry: Any) -> str | None:
    return entry.code if entry is not None else None


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def user_snapshot(user: User) -> dict[str, Any]:
    """The user's full current state, under the field names of the API representation."""
    return {
        "id": str(user.id),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "department": _code(user.department),
        "position": _code(user.position),
        "location": _code(user.location),
        "start_date": _date(user.start_date),
        "end_date": _date(user.end_date),
        "is_active": user.is_active,
    }


def _user_event(event_type: str, user: User, payload: dict[str, Any]) -> Envelope:
    return Envelope(
        event_type=event_type,
        aggregate_type="user",
        aggregate_id=str(user.id),
        aggregate_version=user.version,
        producer=producer_name(),
        payload=payload,
    )


def user_created_event(user: User) -> Envelope:
    return _user_event(types.USER_CREATED, user, user_snapshot(user))


def user_updated_event(user: User) -> Envelope:
    return _user_event(types.USER_UPDATED, user, user_snapshot(user))


def user_deactivated_event(user: User) -> Envelope:
    return _user_event(types.USER_DEACTIVATED, user, user_snapshot(user))


def user_reactivated_event(user: User) -> Envelope:
    return _user_event(types.USER_REACTIVATED, user, user_snapshot(user))


def user_erased_event(user: User) -> Envelope:
    """GDPR erase: the id only, no personal data."""
    return _user_event(types.USER_ERASED, user, {"id": str(user.id)})


def user_resources_changed_event(user: User) -> Envelope:
    return _user_event(types.USER_RESOURCES_CHANGED, user, {"id": str(user.id)})
