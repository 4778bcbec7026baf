"""Publish envelopes to the SNS topic with `publish_batch`, ten to a call (and 256 KiB)."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from events.envelope import Envelope
from events.tracecontext import TRACEPARENT, TraceParent

SNS_BATCH_LIMIT = 10
#: SNS refuses a publish_batch whose messages and attributes add up to more than 256 KiB.
SNS_BATCH_MAX_BYTES = 256 * 1024
#: Room for the message attributes (event_type, schema_version, traceparent) of one entry.
ENTRY_OVERHEAD_BYTES = 256


def entry_size(message: str) -> int:
    """What one entry counts toward a publish_batch's 256 KiB: its message (an envelope's JSON)
    and room for its attributes."""
    return len(message.encode("utf-8")) + ENTRY_OVERHEAD_BYTES


def batch_slices(sizes: Sequence[int]) -> list[slice]:
    """Consecutive slices, in order, each within SNS's limits of one publish_batch call:
    at most 10 entries and 256 KiB together. An entry too big on its own gets a slice of
    its own (SNS will refuse that entry, not its neighbours)."""
    slices: list[slice] = []
    start, total = 0, 0
    for index, size in enumerate(sizes):
        full = index - start == SNS_BATCH_LIMIT or (index > start and total + size > SNS_BATCH_MAX_BYTES)
        if full:
            slices.append(slice(start, index))
            start, total = index, 0
        total += size
    if start < len(sizes):
        slices.append(slice(start, len(sizes)))
    return slices


@dataclass
class PublishResult:
    """Which event ids SNS accepted and why the others were refused."""

    published: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


class SnsPublisher:
    def __init__(self, sns: Any, topic_arn: str) -> None:
        self.sns = sns
        self.topic_arn = topic_arn

    def publish_batch(
        self,
        envelopes: Sequence[Envelope],
        traceparents: Mapping[str, str] | None = None,
        *,
        messages: Sequence[str] | None = None,
    ) -> PublishResult:
        """Publish up to 10 envelopes in one call. A network error raises; entry errors are returned.

        Each message carries the `traceparent` attribute: the one `traceparents` gives for its
        event id (the outbox row's), else a new span in the envelope's trace. `messages`: the
        envelopes' JSON, in the same order, when the caller has encoded them already.
        """
        if len(envelopes) > SNS_BATCH_LIMIT:
            raise ValueError(f"publish_batch takes at most {SNS_BATCH_LIMIT} envelopes")
        result = PublishResult()
        if not envelopes:
            return result
        traceparents = traceparents or {}
        if messages is None:
            messages = [env.to_json() for env in envelopes]
        entries = []
        for env, message in zip(envelopes, messages, strict=True):
            attributes = {
                "event_type": {"DataType": "String", "StringValue": env.event_type},
                "schema_version": {"DataType": "Number", "StringValue": str(env.schema_version)},
            }
            parent = TraceParent.parse(traceparents.get(env.event_id)) or TraceParent.in_trace(env.trace_id)
            if parent is not None:
                attributes[TRACEPARENT] = {"DataType": "String", "StringValue": str(parent)}
            # Batch entry ids allow [A-Za-z0-9_-], up to 80 characters: a UUID fits.
            entries.append({"Id": env.event_id, "Message": message, "MessageAttributes": attributes})
        with _entries_in_flight(entries):
            response = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        result.published = [entry["Id"] for entry in response.get("Successful", [])]
        result.failed = {
            entry["Id"]: f"{entry.get('Code', 'Error')}: {entry.get('Message', '')}".strip()
            for entry in response.get("Failed", [])
        }
        return result


_in_flight = threading.local()


@contextlib.contextmanager
def _entries_in_flight(entries: list[dict[str, Any]]) -> Iterator[None]:
    """Each entry's own traceparent, by entry id, while its call is made (see keep_event_traces)."""
    _in_flight.traceparents = {
        entry["Id"]: entry["MessageAttributes"][TRACEPARENT]["StringValue"]
        for entry in entries
        if TRACEPARENT in entry["MessageAttributes"]
    }
    try:
        yield
    finally:
        _in_flight.traceparents = {}


def keep_event_traces(span: Any, service_name: str, operation_name: str, api_params: Any) -> None:
    """OpenTelemetry's botocore `request_hook`: put each event's own traceparent back.

    The botocore instrumentation injects the SNS call's span into every entry's `traceparent`
    attribute, which would move each event into the relay's trace. One call publishes up to ten
    events of ten traces: the call's span links to them instead, and each message keeps its own.
    """
    if service_name.lower() != "sns" or operation_name != "PublishBatch" or not isinstance(api_params, dict):
        return
    own = getattr(_in_flight, "traceparents", None) or {}
    for entry in api_params.get("PublishBatchRequestEntries") or []:
        value = own.get(entry.get("Id"))
        parent = TraceParent.parse(value)
        if parent is None:
            continue
        entry.setdefault("MessageAttributes", {})[TRACEPARENT] = {"DataType": "String", "StringValue": value}
        if span is not None and span.is_recording():
            from opentelemetry.trace import SpanContext, TraceFlags

            span.add_link(
                SpanContext(int(parent.trace_id, 16), int(parent.span_id, 16), True, TraceFlags(0x01))
            )
