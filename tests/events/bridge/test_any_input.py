"""Any body and any attribute set SQS can carry ends as a fate (`Publish` or `Poison`), never as an
exception out of the bridge: hypothesis feeds arbitrary messages to `classify`, to `process_batch`
and, through a real (moto) queue, to `poll_once`."""

from __future__ import annotations

import json
import string
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from events import types
from events.bridge.fates import Poison, Publish, classify
from events.bridge.intake import Intake
from events.bridge.poison_limit import PoisonLimit
from events.bridge.received import SqsMessage
from tests.events.bridge.helpers import ROUTES, make_bridge, queue_depth
from tests.events.test_envelope import user_event

TOPIC = "arn:aws:sns:us-east-1:123456789012:hr-user-events"
INTAKE = Intake(allowed_topic_arns=[TOPIC])
RAW_INTAKE = Intake(allowed_topic_arns=[TOPIC], raw_delivery=True)

#: Characters SQS accepts in a body (#x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD #x10000-#x10FFFF).
sqs_text = st.text(
    st.characters(
        codec="utf-8",
        exclude_categories=("Cs",),
        exclude_characters="".join(chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)) + "\ufffe\uffff",
    ),
    min_size=1,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def envelope_like() -> st.SearchStrategy[dict]:
    """A valid envelope with any one field replaced by any JSON value (or removed)."""
    valid = user_event(types.USER_UPDATED).to_dict()
    return st.tuples(
        st.sampled_from([*sorted(valid), "payload.email", "extra"]), json_values, st.booleans()
    ).map(lambda change: _changed(valid, *change))


def _changed(valid: dict, field: str, value: Any, remove: bool) -> dict:
    data = json.loads(json.dumps(valid))
    target, key = (data["payload"], "email") if field == "payload.email" else (data, field)
    if remove:
        target.pop(key, None)
    else:
        target[key] = value
    return data


def notification(message: Any, **fields: Any) -> dict:
    return {"Type": "Notification", "MessageId": "m-1", "TopicArn": TOPIC, "Message": message} | fields


bodies = st.one_of(
    sqs_text,
    json_values.map(json.dumps),
    envelope_like().map(json.dumps),
    envelope_like().map(lambda e: json.dumps(notification(json.dumps(e)))),
    json_values.map(lambda m: json.dumps(notification(m))),  # Message of any type, not only a string
    st.dictionaries(
        st.sampled_from(["Type", "MessageId", "TopicArn", "Message", "Subject"]), json_values, max_size=5
    ).map(json.dumps),
    st.integers(1, 3000).map(lambda depth: "[" * depth + "]" * depth),  # nesting past the recursion limit
    st.integers(1, 3000).map(lambda depth: json.dumps(notification("[" * depth + "]" * depth))),
)
attributes = st.one_of(
    st.none(),
    json_values,
    st.dictionaries(
        st.sampled_from(["ApproximateReceiveCount", "SentTimestamp", "Other"]),
        st.one_of(json_values, st.text(string.digits, max_size=30), st.just("3")),
    ),
)
raw_messages = st.fixed_dictionaries(
    {},
    optional={
        "MessageId": st.one_of(st.text(), json_values),
        "ReceiptHandle": st.one_of(st.text(), json_values),
        "Body": st.one_of(bodies, json_values),
        "Attributes": attributes,
        "MD5OfBody": st.text(),
    },
)
anything = st.one_of(raw_messages, json_values)


@given(raw=anything, raw_delivery=st.booleans())
@settings(max_examples=600, deadline=None)
def test_classify_always_returns_a_fate(raw, raw_delivery):
    message = SqsMessage.from_sqs(raw)
    fate = classify(message, intake=RAW_INTAKE if raw_delivery else INTAKE, routes=ROUTES)
    assert isinstance(fate, Publish | Poison)
    if isinstance(fate, Poison):
        assert fate.error.reason
        assert fate.error.where


@given(body=bodies)
@example(body=json.dumps(notification(user_event(types.USER_UPDATED).to_json())))
@settings(max_examples=300, deadline=None)
def test_a_body_is_published_only_if_it_is_a_valid_notification_of_the_topic(body):
    fate = classify(SqsMessage.from_sqs({"Body": body}), intake=INTAKE, routes=ROUTES)
    if isinstance(fate, Publish):
        outer = json.loads(body)
        assert outer["Type"] == "Notification"
        assert outer["TopicArn"] == TOPIC
        assert [task.envelope for task in fate.tasks] == [json.loads(outer["Message"])] * len(fate.tasks)


@pytest.fixture
def bridge(sqs, top, redis_url):
    # The poison limit is about a broken bridge, not about fuzzing: off here (a ratio of 1 never trips).
    return make_bridge(sqs, top, redis_url, poison_limit=PoisonLimit(max_ratio=1.0), heartbeat_seconds=0)


@given(batch=st.lists(anything, min_size=1, max_size=10))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_process_batch_settles_any_batch_without_raising(bridge, batch):
    outcome = bridge.process_batch(batch)
    assert outcome.received == len(batch)
    assert outcome.deleted <= len(batch)


@given(batch=st.lists(bodies.filter(lambda b: len(b.encode()) < 250_000), min_size=1, max_size=10))
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_body_through_a_real_queue_is_published_or_dead_lettered(sqs, top, bridge, batch):
    for body in batch:
        sqs.send_message(QueueUrl=top.queue_url, MessageBody=body)

    settled = 0
    while settled < len(batch):
        outcome = bridge.poll_once()
        assert outcome.received, "the queue ran dry before every message was settled"
        settled += outcome.deleted

    assert queue_depth(sqs, top.queue_url) == 0


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


@given(body=bodies)
@example(body=json.dumps(notification(user_event(types.USER_UPDATED, first_name="A\x00").to_json())))
@settings(max_examples=300, deadline=None)
def test_what_is_published_can_be_stored_in_postgresql(body):
    """The hand-off record and the read model live in PostgreSQL, whose text and jsonb refuse
    U+0000 and non-finite numbers: such an envelope must be poison (to the DLQ), or its message
    would come back from SQS for ever."""
    fate = classify(SqsMessage.from_sqs({"Body": body}), intake=INTAKE, routes=ROUTES)
    if isinstance(fate, Publish):
        for task in fate.tasks:
            json.dumps(task.envelope, allow_nan=False)
            assert not _holds_nul(task.envelope)
