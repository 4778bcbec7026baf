"""The event envelope: one JSON object per SNS message (see docs/architecture.md)."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from events.errors import InvalidMessage
from events.tracecontext import current_trace_id
from events.validation import validate_envelope

#: SQS refuses bodies over 256 KiB; an envelope must leave room for the SNS wrapper.
MAX_ENVELOPE_BYTES = 200 * 1024
REASON_BAD_JSON = "bad_json"
REASON_TOO_LARGE = "too_large"
#: An escaped U+0000 (an odd run of backslashes, then `u0000`): PostgreSQL's text and jsonb cannot
#: hold the character, so an envelope with one could be neither recorded nor applied.
_ESCAPED_NUL = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


def utc_timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 UTC with microseconds and a `Z`, the envelope's `occurred_at` format."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True, slots=True)
class Envelope:
    event_type: str
    aggregate_type: str
    aggregate_id: str
    aggregate_version: int
    payload: dict[str, Any]
    producer: str
    schema_version: int = 1
    event_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    occurred_at: str = field(default_factory=utc_timestamp)
    #: The W3C trace-id of the work that caused the event (events/tracecontext.py), else a new one.
    trace_id: str = field(default_factory=current_trace_id)

    def to_dict(self) -> dict[str, Any]:
        # What dataclasses.asdict returns, at a fraction of its cost: it recursed into every payload
        # value and was most of the bridge's CPU per event once validation was fast.
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["payload"] = _json_copy(self.payload)
        return data

    def to_json(self) -> str:
        # Encoding reads the payload without changing it: no copy of it (`to_dict` makes one).
        fields = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(fields, separators=(",", ":"), ensure_ascii=False, allow_nan=False)

    def validate(self) -> Envelope:
        validate_envelope(self.to_dict())
        return self

    @classmethod
    def from_dict(cls, data: Any) -> Envelope:
        """Validate `data` against the contract and build an envelope (raises `InvalidEvent`)."""
        validate_envelope(data)
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})

    @classmethod
    def from_json(cls, text: str | bytes) -> Envelope:
        return cls.from_dict(parse_json(text, max_length=MAX_ENVELOPE_BYTES))


def _json_copy(value: Any) -> Any:
    """A copy of a JSON value (dicts and lists anew, the rest immutable): what `copy.deepcopy`
    gives for one, at a fifth of its cost (it keeps a memo of every object it meets)."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str | bytes, *, max_length: int) -> Any:
    """Parse untrusted JSON text, refusing oversize and malformed input as `InvalidMessage`.

    Deep nesting makes `json.loads` raise RecursionError, not ValueError: it is bad JSON too. So are
    what Python's json reads beyond the standard (NaN, Infinity) and an escaped U+0000: no database
    of ours could store either.
    """
    if not isinstance(text, str | bytes):
        raise InvalidMessage(REASON_BAD_JSON, validator="type")
    if len(text) > max_length:
        raise InvalidMessage(REASON_TOO_LARGE, f"{len(text)} > {max_length}", validator="max_length")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidMessage(REASON_BAD_JSON, type(exc).__name__, validator="json") from exc
    if "u0000" in text and _ESCAPED_NUL.search(text):
        raise InvalidMessage(REASON_BAD_JSON, "a string holds U+0000", validator="json")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise InvalidMessage(REASON_BAD_JSON, detail, validator="json") from exc
    except (ValueError, RecursionError) as exc:  # too deep, an integer too long, bytes not UTF-8
        raise InvalidMessage(REASON_BAD_JSON, type(exc).__name__, validator="json") from exc
