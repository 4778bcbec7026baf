"""Contract-valid sample envelopes for tests and benchmarks: one place that spells out a user
snapshot, so a schema change is made here once."""

from __future__ import annotations

import json
import uuid
from typing import Any

from events import types
from events.envelope import Envelope


def user_snapshot(user_id: str | None = None, **fields: Any) -> dict[str, Any]:
    """A full `user.*` snapshot payload (Ada Lovelace, ENG, LON); `fields` override any value."""
    user_id = user_id or str(uuid.uuid4())
    return {
        "id": user_id,
        "email": f"{user_id[:8]}@example.com",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "department": "ENG",
        "position": None,
        "location": "LON",
        "start_date": "2020-01-02",
        "end_date": None,
        "is_active": True,
    } | fields


def user_envelope(
    event_type: str = types.USER_UPDATED, *, user_id: str | None = None, version: int = 1, **fields: Any
) -> Envelope:
    """An envelope of `event_type` for one user: a snapshot, or only the id for `user.erased`."""
    user_id = user_id or str(uuid.uuid4())
    payload = {"id": user_id} if event_type == types.USER_ERASED else user_snapshot(user_id, **fields)
    return Envelope(
        event_type=event_type,
        aggregate_type="user",
        aggregate_id=user_id,
        aggregate_version=version,
        producer="hr_monolith",
        payload=payload,
    )


def sns_notification(topic_arn: str, message: str) -> str:
    """The SQS body SNS delivers for `message` to a subscribed queue (no raw delivery)."""
    return json.dumps(
        {
            "Type": "Notification",
            "MessageId": str(uuid.uuid4()),
            "TopicArn": topic_arn,
            "Message": message,
            "Timestamp": "2026-11-23T10:00:00.000Z",
            "SignatureVersion": "1",
        }
    )
