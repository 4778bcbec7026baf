"""Build contract-valid envelopes for the users service's tests."""

from __future__ import annotations

import uuid
from typing import Any

from events import types
from tests.samples import user_envelope


def user_state_event(
    user_id: str, version: int, event_type: str = types.USER_UPDATED, **fields: Any
) -> dict[str, Any]:
    fields = {"last_name": f"v{version}"} | fields
    return user_envelope(event_type, user_id=user_id, version=version, **fields).validate().to_dict()


def new_user_id() -> str:
    return str(uuid.uuid4())
