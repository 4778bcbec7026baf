"""The events the benchmarks publish and apply: contract-valid `user.*` envelopes of the size the
monolith's payload builders produce, built without the monolith (the users-service benchmarks run
under the users service's settings, where its models cannot be imported)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from events import types
from events.envelope import Envelope


def user_envelope(
    event_type: str = types.USER_UPDATED, *, user_id: str | None = None, version: int = 1, **fields: Any
) -> Envelope:
    """A full snapshot of one user (all the contract's fields; `fields` override any) in an envelope."""
    user_id = user_id or str(uuid.uuid4())
    payload = {
        "id": user_id,
        "email": f"{user_id[:8]}@example.com",
        "first_name": "Bench",
        "last_name": "Mark",
        "department": "ENG",
        "position": None,
        "location": "LON",
        "start_date": "2020-01-02",
        "end_date": None,
        "is_active": True,
    } | fields
    return Envelope(
        event_type=event_type,
        aggregate_type="user",
        aggregate_id=user_id,
        aggregate_version=version,
        producer="hr_monolith",
        payload=payload,
    )


def sns_notification(topic_arn: str, message: str) -> str:
    """The SQS body SNS delivers for `message` to a subscribed queue (no raw delivery): what the
    bridge accepts."""
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
