"""The W3C trace context (`traceparent`) that follows an event from the monolith's request to the
users service's task: parsed, formatted, and held for the work in hand.

The envelope's `trace_id` is the W3C trace-id of the request that caused the event, so a log line,
a span and an envelope of one event all name the same trace. The `traceparent` travels beside the
envelope: on the outbox row, as an SNS message attribute, and as a Celery task header, each under
the one name `TRACEPARENT`. OpenTelemetry's propagators read and write the same header, so the
chain holds whether tracing is on (shared_settings/tracing.py) or off.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

#: The header, SNS message attribute and Celery task header that carry the trace context.
TRACEPARENT = "traceparent"

_TRACEPARENT_RE = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_TRACE_ID_RE = re.compile(r"^[0-9a-f]{32}$")
_INVALID_TRACE_ID = "0" * 32
_INVALID_SPAN_ID = "0" * 16


def _new_span_id() -> str:
    return secrets.token_hex(8)


def new_trace_id() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class TraceParent:
    """One W3C `traceparent`: the trace, the span that is the parent of the next hop, the flags."""

    trace_id: str
    span_id: str
    flags: str = "01"

    def __str__(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    @classmethod
    def parse(cls, value: object) -> TraceParent | None:
        """The traceparent in `value`, or None for anything W3C says to ignore (the caller then
        starts a trace of its own): a value from a request or a queue is untrusted."""
        if not isinstance(value, str) or len(value) > 128:
            return None
        match = _TRACEPARENT_RE.match(value.strip().lower())
        if match is None:
            return None
        version, trace_id, span_id, flags = match.groups()
        if version == "ff" or trace_id == _INVALID_TRACE_ID or span_id == _INVALID_SPAN_ID:
            return None
        return cls(trace_id, span_id, flags)

    @classmethod
    def new(cls) -> TraceParent:
        return cls(new_trace_id(), _new_span_id())

    @classmethod
    def in_trace(cls, trace_id: object) -> TraceParent | None:
        """A new span in the trace `trace_id` (an envelope's), or None if it is no W3C trace-id:
        the schema allows 1-64 hex digits, W3C exactly 32 (older events, backfills)."""
        if not isinstance(trace_id, str) or not _TRACE_ID_RE.match(trace_id) or trace_id == _INVALID_TRACE_ID:
            return None
        return cls(trace_id, _new_span_id())

    def child(self) -> TraceParent:
        """The same trace, a new span: what a hop that does not record spans passes on."""
        return TraceParent(self.trace_id, _new_span_id(), self.flags)


_current: ContextVar[TraceParent | None] = ContextVar("traceparent", default=None)


def current() -> TraceParent | None:
    """The trace context of the work in hand (a request, a task), if one was set."""
    return _current.get()


def current_trace_id() -> str:
    """The trace-id a new envelope carries: the current trace's, else a new trace."""
    parent = _current.get()
    return parent.trace_id if parent is not None else new_trace_id()


@contextlib.contextmanager
def use(parent: TraceParent | None) -> Iterator[TraceParent | None]:
    """Make `parent` the current trace context for the block (None: no trace)."""
    token = _current.set(parent)
    try:
        yield parent
    finally:
        _current.reset(token)


def set_current(parent: TraceParent | None) -> None:
    """Set the current trace context until the next call (Celery's task_prerun/postrun pair)."""
    _current.set(parent)


@contextlib.contextmanager
def otel_parent(parent: TraceParent | None) -> Iterator[None]:
    """Make `parent` the OpenTelemetry parent of the spans started in the block (Celery's publish
    span, say), so that they join the event's trace. Without the SDK configured this costs a
    dictionary and starts no span."""
    if parent is None:
        yield
        return
    from opentelemetry import context, propagate

    token = context.attach(propagate.extract({TRACEPARENT: str(parent)}))
    try:
        yield
    finally:
        context.detach(token)


def otel_recording() -> bool:
    """Whether an OpenTelemetry tracer provider is set in this process (shared_settings/tracing.py).

    Without one no span is ever started or injected, so `otel_parent` changes nothing and a hot
    path may skip it (a context attach and a propagator run per task, ~10% of a publish)."""
    if "opentelemetry.trace" not in sys.modules:
        return False
    from opentelemetry import trace

    return not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


def from_otel() -> TraceParent | None:
    """The recording OpenTelemetry span as a traceparent, or None when tracing is off."""
    from opentelemetry import trace

    span = trace.get_current_span().get_span_context()
    if not span.is_valid:
        return None
    return TraceParent(
        format(span.trace_id, "032x"), format(span.span_id, "016x"), format(span.trace_flags, "02x")
    )
