"""From an SQS body to a contract-valid envelope, accepting only what came through the topic.

By default a body must be an SNS notification (`Type: Notification`) from an allowed topic;
each of its fields is type-checked before use. A bare envelope is accepted only when the
subscription is configured for raw delivery (`EVENTS_RAW_DELIVERY`), which costs the topic
check: a raw message carries no TopicArn (docs/bridge-intake.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from events.envelope import MAX_ENVELOPE_BYTES, Envelope, parse_json
from events.errors import InvalidMessage
from events.tracecontext import TRACEPARENT, TraceParent

REASON_NOT_FROM_TOPIC = "not_an_sns_notification"
REASON_BAD_NOTIFICATION = "bad_sns_notification"
REASON_FORGED_TOPIC = "topic_not_allowed"
REASON_NO_BODY = "no_body"

#: Room for the SNS wrapper around an envelope of the largest size.
MAX_BODY_BYTES = MAX_ENVELOPE_BYTES + 8 * 1024
#: SNS notification fields the bridge reads; each must be a string.
_NOTIFICATION_FIELDS = ("MessageId", "TopicArn", "Message")


@dataclass(frozen=True)
class ReceivedEvent:
    envelope: Envelope
    #: The span of the hop before (the monolith's request), if the event names a W3C trace.
    traceparent: TraceParent | None


class Intake:
    def __init__(self, *, allowed_topic_arns: Iterable[str], raw_delivery: bool = False) -> None:
        self.allowed_topic_arns = frozenset(allowed_topic_arns)
        self.raw_delivery = raw_delivery

    def envelope(self, body: str | None) -> Envelope:
        """The envelope in an SQS body; raises `InvalidMessage` with a value-free reason."""
        return self.event(body).envelope

    def event(self, body: str | None, raw_traceparent: str | None = None) -> ReceivedEvent:
        """The envelope in an SQS body and the trace it belongs to: the `traceparent` attribute of
        the SNS notification (or `raw_traceparent`, SQS's attribute under raw delivery) when it is
        of the envelope's trace, else a new span in the envelope's trace."""
        if body is None:
            raise InvalidMessage(REASON_NO_BODY, validator="type")
        outer = parse_json(body, max_length=MAX_BODY_BYTES)
        # An envelope has no `Type` (its schema allows no extra field): anything with one claims
        # to be an SNS message and is checked as such.
        if isinstance(outer, Mapping) and "Type" in outer:
            envelope = Envelope.from_json(self.notification_message(outer))
            attributes = outer.get("MessageAttributes")
            attribute = attributes.get(TRACEPARENT) if isinstance(attributes, Mapping) else None
            value = attribute.get("Value") if isinstance(attribute, Mapping) else None
        elif not self.raw_delivery:
            raise InvalidMessage(REASON_NOT_FROM_TOPIC, path="Type", validator="required")
        else:
            envelope, value = Envelope.from_dict(outer), raw_traceparent
        parent = TraceParent.parse(value)
        if parent is None or parent.trace_id != envelope.trace_id:
            parent = TraceParent.in_trace(envelope.trace_id)
        return ReceivedEvent(envelope, parent)

    def notification_message(self, notification: Mapping[str, Any]) -> str:
        """The `Message` of an SNS notification from an allowed topic."""
        if notification.get("Type") != "Notification":
            raise InvalidMessage(REASON_BAD_NOTIFICATION, path="Type", validator="const")
        for name in _NOTIFICATION_FIELDS:
            if not isinstance(notification.get(name), str):
                raise InvalidMessage(REASON_BAD_NOTIFICATION, path=name, validator="type")
        if notification["TopicArn"] not in self.allowed_topic_arns:
            raise InvalidMessage(REASON_FORGED_TOPIC, path="TopicArn", validator="allow_list")
        return notification["Message"]


def event_identity(body: Any) -> tuple[str | None, str | None]:
    """Best effort, for the DLQ's browser and the bridge's log lines: the event type and id in a
    (maybe SNS-wrapped, maybe broken) body. The id only if it is a UUID, so it can quote nothing else."""
    try:
        data = parse_json(body, max_length=MAX_BODY_BYTES)
        if isinstance(data, Mapping) and data.get("Type") == "Notification":
            data = parse_json(data.get("Message"), max_length=MAX_ENVELOPE_BYTES)
    except InvalidMessage:
        return None, None
    if not isinstance(data, Mapping):
        return None, None
    event_type, event_id = data.get("event_type"), data.get("event_id")
    return (event_type if isinstance(event_type, str) else None, event_id if _is_uuid(event_id) else None)


def _is_uuid(value: Any) -> bool:
    if not isinstance(value, str) or len(value) != 36:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
