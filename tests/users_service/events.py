"""Build contract-valid envelopes for the users service's tests."""

from __future__ import annotations

import uuid
from typing import Any

from events import types
from events.envelope import Envelope


def user_state_event(
    user_id: str, version: int, event_type: str = types.USER_UPDATED, **fields: Any
) -> dict[str, Any]:
    if event_type == types.USER_ERASED:
        payload: dict[str, Any] = {"id": user_id}
    else:
        payload = {
            "id": user_id,
            "email": f"{user_id[:8]}@example.com",
            "first_name": "Ada",
            "last_name": f"v{version}",
            "department": "ENG",
            "position": None,
            "location": "LON",
            "start_date": "2020-01-02",
            "end_date": None,
            "is_active": True,
        } | fields
    return (
        Envelope(
            event_type=event_type,
            aggregate_type="user",
            aggregate_id=user_id,
            aggregate_version=version,
            producer="hr_monolith",
            payload=payload,
        )
        .validate()
        .to_dict()
    )


def new_user_id() -> str:
    return str(uuid.uuid4())
