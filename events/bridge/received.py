"""One SQS message as the bridge sees it: every field SQS hands over, type-checked on the way in.

A boto3 response is a dict of whatever the server sent. Reading it once, here, into a typed
value means no later step can trip over a missing handle or a receive count that is not a
number: building a `SqsMessage` never raises.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from events.tracecontext import TRACEPARENT

#: Shown for a message whose id SQS did not give (logs and DLQ attributes need a non-empty value).
UNKNOWN_ID = "(no MessageId)"


@dataclass(frozen=True)
class SqsMessage:
    message_id: str
    #: None when SQS gave none: such a message can be neither deleted nor hidden.
    receipt_handle: str | None
    #: None when the body is not text.
    body: str | None
    receive_count: int
    sent_timestamp_ms: int | None
    #: The `traceparent` message attribute, as SQS gave it (raw delivery); untrusted text.
    traceparent: str | None = None

    @classmethod
    def from_sqs(cls, raw: Any) -> SqsMessage:
        fields = raw if isinstance(raw, Mapping) else {}
        attributes = fields.get("Attributes")
        attributes = attributes if isinstance(attributes, Mapping) else {}
        message_id = fields.get("MessageId")
        handle = fields.get("ReceiptHandle")
        body = fields.get("Body")
        trace = _string_attribute(fields.get("MessageAttributes"), TRACEPARENT)
        return cls(
            message_id=message_id if isinstance(message_id, str) and message_id else UNKNOWN_ID,
            receipt_handle=handle if isinstance(handle, str) and handle else None,
            body=body if isinstance(body, str) else None,
            receive_count=max(1, _count(attributes.get("ApproximateReceiveCount")) or 1),
            sent_timestamp_ms=_count(attributes.get("SentTimestamp")),
            traceparent=trace,
        )


def _string_attribute(attributes: Any, name: str) -> str | None:
    """A String message attribute: `{"DataType": "String", "StringValue": ...}` (SQS) or
    `{"Type": "String", "Value": ...}` (inside an SNS notification)."""
    attribute = attributes.get(name) if isinstance(attributes, Mapping) else None
    if not isinstance(attribute, Mapping):
        return None
    value = attribute.get("StringValue", attribute.get("Value"))
    return value if isinstance(value, str) else None


def _count(value: Any) -> int | None:
    """A non-negative integer SQS sends as a decimal string; None for anything else."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return None
