"""What becomes of a message, as types: never a truthy/falsy result that a retry could pass for success.

`classify` decides between `Publish` and `Poison` for one message and never raises: an
unexpected exception there is a bug in the bridge, not in the message, and becomes a
`Poison` with reason `internal_error` (dead-lettered, so it can be redriven after the fix)
and a logged traceback. The traceback carries no exception message, which may quote a value.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass

from events.bridge.intake import Intake, event_identity
from events.bridge.received import SqsMessage
from events.bridge.routing import RoutingTable, TaskMessage, tasks_for
from events.errors import InvalidMessage, TransientError

log = logging.getLogger(__name__)

REASON_INTERNAL_ERROR = "internal_error"


@dataclass(frozen=True)
class Publish:
    """The message is valid: publish these tasks (maybe none), then delete it."""

    message: SqsMessage
    tasks: list[TaskMessage]


@dataclass(frozen=True)
class Poison:
    """The message can never succeed: copy it to the DLQ with the reason, then delete it."""

    message: SqsMessage
    error: InvalidMessage
    #: The envelope's id when the body holds one (a UUID, nothing else), for logs and the DLQ.
    event_id: str | None = None


Fate = Publish | Poison


@dataclass(frozen=True)
class Published:
    """The broker accepted every task of these messages: they may be deleted."""

    messages: list[SqsMessage]


@dataclass(frozen=True)
class NotPublished:
    """The broker refused: the messages stay in SQS for redelivery."""

    messages: list[SqsMessage]
    error: TransientError


@dataclass
class BatchOutcome:
    received: int = 0
    deleted: int = 0
    dead_lettered: int = 0
    left_for_redelivery: int = 0


def classify(message: SqsMessage, *, intake: Intake, routes: RoutingTable) -> Fate:
    """Decide what becomes of one message. Only `InvalidMessage` (or a bug) means poison."""
    try:
        try:
            event = intake.event(message.body, message.traceparent)
            return Publish(message, tasks_for(event.envelope, routes, event.traceparent))
        except InvalidMessage as exc:
            return Poison(message, exc, event_identity(message.body)[1])
    except Exception as exc:
        log.error(
            "internal error classifying message %s: %s\n%s",
            message.message_id,
            type(exc).__name__,
            "".join(traceback.format_tb(exc.__traceback__)).rstrip(),
        )
        error = InvalidMessage(REASON_INTERNAL_ERROR, validator=type(exc).__name__)
        return Poison(message, error)
