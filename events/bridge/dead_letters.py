"""A dead letter's format: what the bridge writes to the DLQ, and how a DLQ message reads back.

A dead letter is the original body with message attributes that say why: the reason, where
in the message (JSON path and broken rule), the source message id and the event id. None of
them quotes a value from the message; the body itself stays in the DLQ only.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from events.aws import AWS_CALL_ERRORS
from events.bridge.fates import Poison
from events.bridge.intake import event_identity
from events.bridge.received import SqsMessage
from events.bridge.sqs_batch import chunks

log = logging.getLogger(__name__)

DLQ_REASON_ATTRIBUTE = "dead_letter_reason"
DLQ_DETAIL_ATTRIBUTE = "dead_letter_detail"
DLQ_SOURCE_ATTRIBUTE = "source_message_id"
DLQ_EVENT_ID_ATTRIBUTE = "event_id"
#: Reason shown for messages SQS moved by itself (the queue's maxReceiveCount redrive policy).
REASON_MAX_RECEIVES = "max_receive_count"


def dead_letter(sqs: Any, dlq_url: str, poison: Sequence[Poison]) -> list[Poison]:
    """Copy poison messages to the DLQ with their reason; returns those the DLQ accepted.

    A message the DLQ did not take stays in the main queue (not deleted): it is dead-lettered
    again when it comes back, or moved by the queue's redrive policy. So is a body SQS could
    not carry (not text, or not encodable).
    """
    sendable = [fate for fate in poison if _sendable(fate.message.body)]
    accepted: list[Poison] = []
    for chunk in chunks(sendable):
        for fate in chunk:
            log.warning(
                "dead-lettering message %s (event %s): %s at %s",
                fate.message.message_id,
                fate.event_id or "-",
                fate.error.reason,
                fate.error.where,
            )
        try:
            response = sqs.send_message_batch(
                QueueUrl=dlq_url,
                Entries=[{"Id": str(i), **_entry(fate)} for i, fate in enumerate(chunk)],
            )
        except AWS_CALL_ERRORS as exc:
            log.warning("DLQ unreachable, leaving %d poison messages: %s", len(chunk), exc)
            continue
        accepted.extend(chunk[int(entry["Id"])] for entry in response.get("Successful", []))
    return accepted


def _entry(fate: Poison) -> dict[str, Any]:
    attributes = {
        DLQ_REASON_ATTRIBUTE: fate.error.reason,
        DLQ_DETAIL_ATTRIBUTE: fate.error.where[:1000],
        DLQ_SOURCE_ATTRIBUTE: fate.message.message_id,
    }
    if fate.event_id:
        attributes[DLQ_EVENT_ID_ATTRIBUTE] = fate.event_id
    return {
        "MessageBody": fate.message.body,
        "MessageAttributes": {
            name: {"DataType": "String", "StringValue": value} for name, value in attributes.items()
        },
    }


def _sendable(body: str | None) -> bool:
    if not body:
        return False
    try:
        body.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ, with what the bridge recorded about it."""

    message_id: str
    receipt_handle: str
    body: str
    reason: str
    detail: str
    event_type: str | None
    event_id: str | None
    source_message_id: str
    sent_at: datetime | None
    receive_count: int

    @classmethod
    def from_sqs(cls, raw: Any) -> DeadLetter:
        message = SqsMessage.from_sqs(raw)
        attributes = raw.get("MessageAttributes") if isinstance(raw, Mapping) else None
        attributes = attributes if isinstance(attributes, Mapping) else {}

        def attribute(name: str, default: str = "") -> str:
            value = attributes.get(name)
            text = value.get("StringValue") if isinstance(value, Mapping) else None
            return text if isinstance(text, str) else default

        event_type, event_id = event_identity(message.body)
        sent = message.sent_timestamp_ms
        return cls(
            message_id=message.message_id,
            receipt_handle=message.receipt_handle or "",
            body=message.body or "",
            reason=attribute(DLQ_REASON_ATTRIBUTE, REASON_MAX_RECEIVES),
            detail=attribute(DLQ_DETAIL_ATTRIBUTE),
            source_message_id=attribute(DLQ_SOURCE_ATTRIBUTE),
            sent_at=datetime.fromtimestamp(sent / 1000, UTC) if sent is not None else None,
            receive_count=message.receive_count,
            event_type=event_type,
            event_id=event_id,
        )

    def summary(self) -> dict[str, Any]:
        """What an operator is shown of the letter: every field but its body and receipt handle."""
        shown = {
            f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("receipt_handle", "body")
        }
        return shown | {"sent_at": self.sent_at.isoformat() if self.sent_at else None}
