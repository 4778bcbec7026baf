"""OpenTelemetry for both services: wired, and off unless `OTEL_ENABLED`.

On, each process (web, relay, bridge, worker, beat) gets a tracer provider named after its service,
spans of Django requests, Celery publishes and runs, botocore (SNS/SQS) calls and Redis commands,
exported to the console (`OTEL_EXPORTER=console`, one JSON object a line) or over OTLP/HTTP to
`OTEL_EXPORTER_OTLP_ENDPOINT`. The event's trace crosses the queues in the `traceparent` attribute
and header (events/tracecontext.py), so the monolith's request and the users service's task are
spans of one trace. Off, nothing is imported beyond the API, and no span is recorded.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django.conf import settings

EXPORTERS = ("otlp", "console")
_lock = threading.Lock()
_configured = False


def _console_exporter() -> Any:
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    # One line a span, so that a log pipeline (and a test) reads it like the JSON log lines.
    return ConsoleSpanExporter(formatter=lambda span: span.to_json(indent=None) + os.linesep)


def _otlp_exporter() -> Any:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    endpoint = settings.OTEL_EXPORTER_OTLP_ENDPOINT.rstrip("/") + "/v1/traces"
    return OTLPSpanExporter(endpoint=endpoint)


def configure_tracing(*, exporter: Any = None, force: bool = False) -> bool:
    """Set up tracing once per process if `OTEL_ENABLED` (or `force`); returns whether it is on.

    `exporter` replaces the configured one (a test's in-memory exporter).
    """
    global _configured
    if not (settings.OTEL_ENABLED or force):
        return False
    with _lock:
        if _configured:
            return True
        from opentelemetry import trace
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

        from events.publisher import keep_event_traces

        provider = TracerProvider(resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}))
        if exporter is not None:
            provider.add_span_processor(SimpleSpanProcessor(exporter))
        elif settings.OTEL_EXPORTER == "console":
            provider.add_span_processor(SimpleSpanProcessor(_console_exporter()))
        else:
            # Batches export off the request path; the SDK restarts its thread in a forked child.
            provider.add_span_processor(BatchSpanProcessor(_otlp_exporter()))
        trace.set_tracer_provider(provider)
        DjangoInstrumentor().instrument()
        CeleryInstrumentor().instrument()
        BotocoreInstrumentor().instrument(request_hook=keep_event_traces)
        RedisInstrumentor().instrument()
        _configured = True
        return True
