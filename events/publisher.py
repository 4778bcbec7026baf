"""Publish envelopes to the SNS topic with `publish_batch`, ten to a call (and 256 KiB)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from events.envelope import Envelope

SNS_BATCH_LIMIT = 10
#: SNS refuses a publish_batch whose messages and attributes add up to more than 256 KiB.
SNS_BATCH_MAX_BYTES = 256 * 1024
#: Room for the message attributes (event_type, schema_version) of one entry.
ENTRY_OVERHEAD_BYTES = 128


def entry_size(envelope: Envelope) -> int:
    return len(envelope.to_json().encode("utf-8")) + ENTRY_OVERHEAD_BYTES


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

    def publish_batch(self, envelopes: Sequence[Envelope]) -> PublishResult:
        """Publish up to 10 envelopes in one call. A network error raises; entry errors are returned."""
        if len(envelopes) > SNS_BATCH_LIMIT:
            raise ValueError(f"publish_batch takes at most {SNS_BATCH_LIMIT} envelopes")
        result = PublishResult()
        if not envelopes:
            return result
        entries = [
            {
                # Batch entry ids allow [A-Za-z0-9_-], up to 80 characters: a UUID fits.
                "Id": env.event_id,
                "Message": env.to_json(),
                "MessageAttributes": {
                    "event_type": {"DataType": "String", "StringValue": env.event_type},
                    "schema_version": {"DataType": "Number", "StringValue": str(env.schema_version)},
                },
            }
            for env in envelopes
        ]
        response = self.sns.publish_batch(TopicArn=self.topic_arn, PublishBatchRequestEntries=entries)
        result.published = [entry["Id"] for entry in response.get("Successful", [])]
        result.failed = {
            entry["Id"]: f"{entry.get('Code', 'Error')}: {entry.get('Message', '')}".strip()
            for entry in response.get("Failed", [])
        }
        return result
