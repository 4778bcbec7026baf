"""Request middleware both services share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse

from events import tracecontext
from shared_settings.logs import bind_hop

#: The response header that names the request's trace (W3C Trace Context level 2).
TRACERESPONSE = "traceresponse"
#: The caller's `traceparent` header as the WSGI environ holds it (`request.headers` costs more).
_TRACEPARENT_META = "HTTP_" + tracecontext.TRACEPARENT.upper()


class TraceContextMiddleware:
    """Each request runs in a trace: the OpenTelemetry server span's when tracing is on (it already
    read the `traceparent` header), else a new span in the caller's `traceparent`, else a new trace.

    Every record the request logs carries its `trace_id`, an event it writes carries the same
    `trace_id` and its outbox row the `traceparent` (events/tracecontext.py), and the response
    names the trace in `traceresponse` (W3C Trace Context level 2) so a caller can look it up.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        parent = request_trace(request)
        with tracecontext.use(parent), bind_hop(trace_id=parent.trace_id):
            response = self.get_response(request)
        response[TRACERESPONSE] = str(parent)
        return response


def request_trace(request: HttpRequest) -> tracecontext.TraceParent:
    """The trace `request` runs in (see `TraceContextMiddleware`); its `traceresponse` names it."""
    parent = tracecontext.from_otel()
    return parent if parent is not None else caller_trace(request.META)


def caller_trace(meta: Mapping[str, Any]) -> tracecontext.TraceParent:
    """A new span in the trace of the caller's `traceparent` (in the WSGI environ `meta`), else a new
    trace: a request's trace when no OpenTelemetry span records it."""
    caller = tracecontext.TraceParent.parse(meta.get(_TRACEPARENT_META))
    return caller.child() if caller is not None else tracecontext.TraceParent.new()
