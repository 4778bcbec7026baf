"""Structured logs for every process of both services (web, relay, bridge, workers, beat).

One JSON object per line by default (`LOG_FORMAT=json`), a readable line for a terminal
(`LOG_FORMAT=console`, what `make run` uses). structlog renders both its own loggers and every
stdlib `logging` call (Django, Celery, botocore, the events package) through one
`ProcessorFormatter`, so each record gets the same keys:

- `event_id`, `trace_id`, `user_id`, `task_id`: bound per hop with `bind_hop` (structlog
  contextvars: the monolith's request, the relay and bridge per event, Celery's task_prerun),
  or passed as `extra={...}` by a stdlib call;
- `span_id` when an OpenTelemetry span is recording (shared_settings/tracing.py).

Never personal data: keys that name a person are dropped and anything shaped like an email
address is masked, whatever a caller (or an exception message) put in.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator, Mapping
from typing import Any

import structlog

LOG_FORMATS = ("json", "console")
#: Keys a record must never carry: a person's name or email, or an event's payload (which holds them).
PERSONAL_KEYS = frozenset({"email", "first_name", "last_name", "full_name", "name", "payload", "envelope"})
_EMAIL_RE = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
EMAIL_MASK = "[email]"
#: The ids a hop binds, in the order they are shown.
HOP_KEYS = ("event_id", "trace_id", "user_id", "task_id")
#: Celery's "Task <name>[<id>] received" line, one per task on the worker's consumer thread (the
#: thread every task of a worker waits for): shown at DEBUG only. Each task still logs Celery's
#: "succeeded" line (with the task's ids and outcome), a failure or retry at WARNING or above,
#: and its own records; the broker's unacked hash tells which tasks a worker holds.
TASK_RECEIVED_LOGGER = "celery.worker.strategy"


def drop_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Remove keys that name a person or hold a payload."""
    for key in PERSONAL_KEYS.intersection(event_dict):
        del event_dict[key]
    return event_dict


#: Extras Django's own loggers pass that are objects, not figures: runserver's socket and time
#: string (`django.server`), the request (`django.request`); their text would be a repr.
DJANGO_OBJECT_KEYS = ("request", "server_time")


def drop_django_objects(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Remove the objects Django hands its log records as extras (the status code stays)."""
    for key in DJANGO_OBJECT_KEYS:
        event_dict.pop(key, None)
    return event_dict


def mask_emails(_logger: Any, _method: str, line: str) -> str:
    """Mask anything shaped like an email address in the rendered line: it reaches values nested in
    extras (Celery's task `data`) and exception messages (a unique-constraint error quotes the value)."""
    return _EMAIL_RE.sub(EMAIL_MASK, line) if "@" in line else line


def add_otel_span(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """The recording OpenTelemetry span's ids, when tracing is on (no cost worth measuring when off)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _processors(*, spans: bool) -> list[Any]:
    """What every record goes through before rendering, structlog's and stdlib's alike."""
    processors = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # A tenth of a record's cost (measured): only when spans are recorded at all.
    return [*processors, add_otel_span] if spans else processors


def _renderer(log_format: str) -> Any:
    if log_format == "console":
        return structlog.dev.ConsoleRenderer(colors=False)
    return structlog.processors.JSONRenderer()


def task_received_level(level: str) -> str:
    """The level of Celery's per-task "received" line: DEBUG shows it, any other level hides its INFO."""
    if level == "DEBUG":
        return level
    return max(level, "WARNING", key=logging.getLevelName)


def logging_config(*, log_format: str, level: str, spans: bool = False) -> dict[str, Any]:
    """The `LOGGING` dict of a service: one handler on stderr, rendered by structlog; `spans`
    (OTEL_ENABLED) adds the recording span's ids to each record."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}")
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": _processors(spans=spans),
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text first, so that an address in an exception message is masked too.
            structlog.processors.format_exc_info,
            drop_personal_data,
            drop_django_objects,
            _renderer(log_format),
            mask_emails,
        ],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "botocore": {"level": "WARNING"},
            "urllib3": {"level": "WARNING"},
            TASK_RECEIVED_LOGGER: {"level": task_received_level(level)},
            # Django's own console handlers (DEBUG) would print each of its records a second time,
            # unformatted: its records go to the root handler like every other.
            "django": {"handlers": [], "level": "INFO", "propagate": True},
            "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        },
    }


def configure_structlog(*, spans: bool = False) -> None:
    """structlog's own loggers hand their records to stdlib logging, which `LOGGING` renders."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_processors(spans=spans),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def hop_fields(envelope: Mapping[str, Any]) -> dict[str, str]:
    """The ids of an event worth a log key: its id, its trace, and its user (an id, never personal)."""
    fields = {}
    for key, source in (("event_id", "event_id"), ("trace_id", "trace_id")):
        value = envelope.get(source)
        if isinstance(value, str):
            fields[key] = value
    if envelope.get("aggregate_type") == "user" and isinstance(envelope.get("aggregate_id"), str):
        fields["user_id"] = envelope["aggregate_id"]
    return fields


@contextlib.contextmanager
def bind_hop(**ids: Any) -> Iterator[None]:
    """Every record logged in the block carries `ids` (None values are left out)."""
    with structlog.contextvars.bound_contextvars(**{k: v for k, v in ids.items() if v is not None}):
        yield
