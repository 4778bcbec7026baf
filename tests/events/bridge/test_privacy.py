"""Nothing personal leaves a poison message: its DLQ attributes and every log line carry the reason,
the JSON path, the rule broken, the message id and the event id, never a value from the message.
The body itself is kept in the DLQ (for redrive), and only there."""

from __future__ import annotations

import json
import logging
import uuid

import pytest

from events import types
from events.bridge.routing import Route
from tests.conftest import receive_all
from tests.events.bridge.helpers import ROUTES, make_bridge, publish
from tests.events.test_envelope import user_event

MARKER = f"zq{uuid.uuid4().hex[:12]}"


def personal(**overrides) -> str:
    """A user event whose personal fields all carry the marker, changed by `overrides` (JSON strings)."""
    event = user_event(
        types.USER_UPDATED,
        email=f"{MARKER}@example.com",
        first_name=f"Ada{MARKER}",
        last_name=f"Lovelace{MARKER}",
    ).to_dict()
    for dotted, value in overrides.items():
        *parents, name = dotted.split(".")
        target = event
        for parent in parents:
            target = target[parent]
        target[name] = value
    return json.dumps(event)


class Exploding(dict):
    """A routing table with a bug: looking a type up raises an error that quotes the event."""

    def __init__(self, envelope_text: str) -> None:
        super().__init__(ROUTES)
        self.envelope_text = envelope_text

    def __getitem__(self, key: str) -> tuple[Route, ...]:
        raise RuntimeError(f"cannot route {self.envelope_text}")


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (personal(**{"payload.email": f"not-an-email-{MARKER}"}), "schema_violation"),  # quoted by jsonschema
        (personal(**{"payload.is_active": MARKER}), "schema_violation"),
        (personal(**{"payload.department": MARKER * 10}), "schema_violation"),  # too long
        (personal(**{"event_type": f"user.{MARKER}"}), "unknown_event_type"),
        (personal(**{"schema_version": MARKER}), "unknown_schema_version"),
        (personal(**{"payload.nickname": MARKER, f"{MARKER}@mail": 1}), "schema_violation"),
        (personal(**{"event_id": MARKER}), "schema_violation"),
        (personal()[:-1], "bad_json"),
    ],
)
def test_no_value_of_a_poison_message_reaches_the_dlq_attributes_or_the_logs(
    sns, sqs, top, redis_url, caplog, message, reason
):
    publish(sns, top, message)
    with caplog.at_level(logging.DEBUG):
        assert make_bridge(sqs, top, redis_url).poll_once().dead_lettered == 1

    [dead] = receive_all(sqs, top.dlq_url)
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes["dead_letter_reason"] == reason
    assert MARKER not in json.dumps(attributes)
    assert MARKER in dead["Body"]  # kept for redrive, in the DLQ only
    assert caplog.records, "the dead-lettering was not logged at all"
    for record in caplog.records:
        assert MARKER not in record.getMessage()
        assert MARKER not in (record.exc_text or "")


def test_a_bug_while_classifying_is_poison_internal_error_with_a_traceback_and_no_values(
    sns, sqs, top, redis_url, caplog
):
    message = personal()
    publish(sns, top, message)
    good = user_event(types.USER_UPDATED)
    bridge = make_bridge(sqs, top, redis_url, routes=Exploding(message))

    with caplog.at_level(logging.DEBUG):
        outcome = bridge.poll_once()

    assert (outcome.dead_lettered, outcome.deleted) == (1, 1)
    [dead] = receive_all(sqs, top.dlq_url)
    attributes = {name: value["StringValue"] for name, value in dead["MessageAttributes"].items()}
    assert attributes["dead_letter_reason"] == "internal_error"
    assert attributes["dead_letter_detail"] == "(message) (RuntimeError)"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "internal error classifying message" in logged
    assert 'File "' in logged
    assert "in __getitem__" in logged
    assert MARKER not in logged

    # The bridge goes on: the next message is handled as usual.
    publish(sns, top, good)
    assert make_bridge(sqs, top, redis_url).poll_once().deleted == 1
