"""Structured logs for every process of both services (web, relay, bridge, workers, beat).

One JSON object per line by default (`LOG_FORMAT=json`), a readable line for a terminal
(`LOG_FORMAT=console`, what `make run` uses). structlog renders both its own loggers and every
stdlib `logging` call (Django, Celery, botocore, the events package) through one formatter
(`StructuredFormatter`), so each record gets the same keys:

- `event_id`, `trace_id`, `user_id`, `task_id`: bound per hop with `bind_hop` (structlog
  contextvars: the monolith's request, the relay and bridge per event, Celery's task_prerun),
  or passed as `extra={...}` by a stdlib call;
- `span_id` when an OpenTelemetry span is recording (shared_settings/tracing.py).

Never personal data: keys that name a person are dropped and anything shaped like an email
address is masked, whatever a caller (or an exception message) put in.
"""

from __future__ import annotations

import contextlib
import json
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


#: Extras Django's own loggers pass that are objects, not figures: runserver's socket and time
#: string (`django.server`), the request (`django.request`); their text would be a repr.
DJANGO_OBJECT_KEYS = ("request", "server_time")
#: Keys a line never shows (the status code of Django's records stays).
UNLOGGED_KEYS = PERSONAL_KEYS | frozenset(DJANGO_OBJECT_KEYS)


def drop_unlogged_keys(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """Remove the keys that name a person or hold a payload, and the objects Django hands its records."""
    for key in UNLOGGED_KEYS.intersection(event_dict):
        del event_dict[key]
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
    """What a structlog logger's record goes through before the formatter (`StructuredFormatter`
    adds the same keys to a stdlib record)."""
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
    # One encoder for every record: json.dumps builds a new one per call when given a `default`.
    encode = json.JSONEncoder(default=_json_fallback).encode
    return structlog.processors.JSONRenderer(serializer=lambda event_dict, **_: encode(event_dict))


def _json_fallback(value: Any) -> Any:
    """What structlog's JSONRenderer writes for a value JSON has no type for: its `__structlog__()`,
    or else its repr."""
    as_structlog = getattr(value, "__structlog__", None)
    return as_structlog() if as_structlog is not None else repr(value)


#: The attributes every stdlib record has; the others are a caller's `extra`.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", logging.INFO, "", 0, "", (), None).__dict__)


class StructuredFormatter(logging.Formatter):
    """One record, one line: what structlog's `ProcessorFormatter` renders with the processors of
    `_processors` and the drops and masking above, in one pass over the record, without its copy of
    each record (measured for the bridge's line, bench/_log_record.py --prof: 16 us of CPU against 37).

    A stdlib record gets, in this order: `event` (its message), `exc_info`/`stack_info` (before they
    are rendered), the bound contextvars, `level`, `logger`, its extras, `timestamp`, the span's ids;
    a structlog logger's record arrives with those already added (`configure_structlog`)."""

    def __init__(self, *, log_format: str = "json", spans: bool = False) -> None:
        super().__init__()
        self._render = _renderer(log_format)
        self._stamp = structlog.processors.TimeStamper(fmt="iso", utc=True)
        self._spans = spans

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, dict) and hasattr(record, "_logger"):
            # structlog's own logger (wrap_for_formatter): its chain ran already.
            event_dict = record.msg.copy()
        else:
            event_dict = self._stdlib_event(record)
        if "exc_info" in event_dict:
            # Tracebacks become text first, so that an address in an exception message is masked too.
            event_dict = structlog.processors.format_exc_info(None, "", event_dict)
        drop_unlogged_keys(None, "", event_dict)
        return mask_emails(None, "", self._render(None, "", event_dict))

    def _stdlib_event(self, record: logging.LogRecord) -> dict[str, Any]:
        event_dict: dict[str, Any] = {"event": record.getMessage()}
        if record.exc_info:
            event_dict["exc_info"] = record.exc_info
        if record.stack_info:
            event_dict["stack_info"] = record.stack_info
        structlog.contextvars.merge_contextvars(None, "", event_dict)
        structlog.processors.add_log_level(None, record.levelname.lower(), event_dict)
        event_dict["logger"] = record.name
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES:
                event_dict[key] = value
        self._stamp(None, "", event_dict)
        return add_otel_span(None, "", event_dict) if self._spans else event_dict


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
    formatter = {"()": StructuredFormatter, "log_format": log_format, "spans": spans}
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


def skip_unshown_record_attributes() -> None:
    """Stdlib records stop looking up what no line shows: the caller's file, line and function (a
    walk up the stack per record), the thread's and process's ids and names. The logging HOWTO's
    "Optimization" recipe; measured, 4 to 8 us of CPU per record (bench/_log_record.py). A call's
    `stack_info=True` then adds no stack (none of ours asks for one)."""
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def configure_structlog(*, spans: bool = False) -> None:
    """structlog's own loggers hand their records to stdlib logging, which `LOGGING` renders; no
    record looks up attributes that no line shows (`skip_unshown_record_attributes`)."""
    skip_unshown_record_attributes()
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
