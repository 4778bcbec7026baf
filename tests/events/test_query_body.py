"""The query-protocol body made once by `events.query_body` is byte for byte the one botocore makes
with `urlencode`, and SNS reads it back unchanged."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from events.aws import client
from events.envelope import Envelope
from events.publisher import SnsPublisher
from events.query_body import encode_query_body, encode_query_body_before_signing

HOSTILE = 'a%20b+c d%%~._-&=?#/\\"{}[]:,\n\t\x00\x7fé€😀ﬀ\u2028'


def botocore_body(params: dict) -> bytes:
    """What botocore's AWSRequestPreparer sends for a dict body."""
    pairs = [
        (key.encode() if isinstance(key, str) else key, value.encode() if isinstance(value, str) else value)
        for key, value in params.items()
    ]
    return urlencode(pairs, doseq=True).encode("utf-8")


@given(st.dictionaries(st.text(), st.one_of(st.text(), st.binary(), st.integers())))
def test_the_body_is_the_one_urlencode_makes(params):
    assert encode_query_body(params) == botocore_body(params)


def test_hostile_text_is_escaped_as_urlencode_does():
    params = {HOSTILE: HOSTILE, "n": 3, "b": HOSTILE.encode("utf-8"), "empty": ""}
    assert encode_query_body(params) == botocore_body(params)


def test_values_it_does_not_know_are_left_to_botocore():
    assert encode_query_body({"flag": True}) is None
    assert encode_query_body({"list": ["a"]}) is None


class Sent(Exception):
    def __init__(self, request) -> None:
        self.request = request


def prepared_publish_batch(sns, entries: list[dict]):
    """The request botocore would send (not sent)."""

    def capture(request, **_):
        raise Sent(request)

    sns.meta.events.register("before-send.sns.PublishBatch", capture)
    with pytest.raises(Sent) as sent:
        sns.publish_batch(TopicArn="arn:aws:sns:us-east-1:123456789012:t", PublishBatchRequestEntries=entries)
    return sent.value.request


def test_a_signed_sns_request_carries_the_same_body_as_without_the_hook(aws):
    entries = [
        {
            "Id": f"e{i}",
            "Message": json.dumps({"text": HOSTILE, "i": i}, ensure_ascii=False),
            "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": HOSTILE}},
        }
        for i in range(10)
    ]
    fast = client("sns", aws)
    plain = client("sns", aws)
    plain.meta.events.unregister("before-sign", encode_query_body_before_signing)
    ours, theirs = prepared_publish_batch(fast, entries), prepared_publish_batch(plain, entries)
    # botocore's own body is urlencode's text; ours the bytes made before signing.
    assert isinstance(theirs.body, str)
    assert isinstance(ours.body, bytes)
    assert ours.body == theirs.body.encode("utf-8")
    for header in ("Content-Length", "Content-Type"):
        assert ours.headers[header] == theirs.headers[header]
    assert b"Signature=" in ours.headers["Authorization"]


def test_hostile_messages_reach_the_queue_unchanged(sns, sqs, topology):
    envelopes = [
        Envelope(
            event_type="user.updated",
            aggregate_type="user",
            aggregate_id=f"user-{i}",
            aggregate_version=1,
            producer="hr_monolith",
            payload={"first_name": HOSTILE.replace("\x00", ""), "i": i},
        )
        for i in range(10)
    ]
    outcome = SnsPublisher(sns, topology.topic_arn).publish_batch(envelopes)
    assert sorted(outcome.published) == sorted(envelope.event_id for envelope in envelopes)
    received: dict[str, str] = {}
    while len(received) < len(envelopes):
        messages = sqs.receive_message(QueueUrl=topology.queue_url, MaxNumberOfMessages=10).get("Messages")
        assert messages, f"received {len(received)} of {len(envelopes)}"
        for message in messages:
            body = json.loads(message["Body"])
            text = body["Message"] if "TopicArn" in body else message["Body"]
            received[json.loads(text)["event_id"]] = text
    assert received == {envelope.event_id: envelope.to_json() for envelope in envelopes}
