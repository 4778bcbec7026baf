"""A known data set in the read model, built through the real event path (`apply_user_event`)."""

from __future__ import annotations

import pytest

from events import types
from tests.users_service.events import new_user_id, user_state_event
from users_service.directory.services import apply_user_event

TASK = "directory.apply_user_event"


def apply(event: dict) -> None:
    apply_user_event(envelope=event, task_name=TASK)


@pytest.fixture
def known_users(db) -> dict[str, str]:
    """Seven users around ISO week 2026-W47 (Mon 16 - Sun 22 November 2026)."""
    ids = {
        name: new_user_id()
        for name in ("old_eng", "new_eng", "leaver", "inactive", "nodept", "erased", "future")
    }
    apply(user_state_event(ids["old_eng"], 1, types.USER_CREATED, department="ENG", start_date="2020-01-02"))
    apply(user_state_event(ids["new_eng"], 1, types.USER_CREATED, department="ENG", start_date="2026-11-18"))
    apply(
        user_state_event(
            ids["leaver"],
            1,
            types.USER_CREATED,
            department="SALES",
            start_date="2019-05-01",
            end_date="2026-11-20",
        )
    )
    apply(user_state_event(ids["inactive"], 1, types.USER_CREATED, department="HR", start_date="2020-01-01"))
    apply(user_state_event(ids["inactive"], 2, types.USER_DEACTIVATED, department="HR", is_active=False))
    apply(user_state_event(ids["nodept"], 1, types.USER_CREATED, department=None, start_date=None))
    apply(user_state_event(ids["erased"], 1, types.USER_CREATED, department="ENG", start_date="2026-11-17"))
    apply(user_state_event(ids["erased"], 2, types.USER_ERASED))
    apply(user_state_event(ids["future"], 1, types.USER_CREATED, department="SALES", start_date="2026-11-30"))
    return ids
