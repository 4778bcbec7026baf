"""CPU per log record through the services' logging (shared_settings/logs.py):
`python -m bench._log_record [--prof] [--records N] [--rounds R]`.

Not a benchmark with a contract line (no RESULTS.md row): the tool behind the logging cost list.
Prints one JSON object: microseconds of process CPU per record, median over the rounds, for each
case and format (json, console), written by the real handler to this process's stderr (sent to
/dev/null while it runs):

- `bridge`: the bridge's hand-off line, a stdlib `logger.info` with %-args and extras, under ids
  bound with `bind_hop`;
- `celery`: Celery's per-task "succeeded" line (a dict of args, the same dict as extra `data`) under
  a task's bound ids;
- `structlog`: a structlog logger's call with keywords under the same ids.

Each reading is taken for `service` (logs.py as it is) and `stock` (structlog's `ProcessorFormatter`
with the stock processors in the order logs.py used them, and stdlib's record attributes all on),
alternating stock and service round after round on the same records.

`--prof`: the stock chain's steps one by one (each processor on the event dict it receives, the
record copy, logging's own calls), microseconds per record (median of 5 readings each), for the
bridge line in json; then the service's formatter on the same record.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import logging.config
import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import structlog

from shared_settings import logs

RECORDS = 5000
ROUNDS = 5
FORMATS = ("json", "console")
BOUND_IDS = {
    "task_id": "0b6c8f1e-3d1f-4c7e-9a63-2f1c1d9a7e10:users_service.directory.tasks.apply_user_event",
    "task": "users_service.directory.tasks.apply_user_event",
    "event_id": "0b6c8f1e-3d1f-4c7e-9a63-2f1c1d9a7e10",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "user_id": "7d5f1c2e-8b0a-4c1e-9f3d-6a2b1c0d9e8f",
}
HAND_OFF = {
    "event_id": BOUND_IDS["event_id"],
    "trace_id": BOUND_IDS["trace_id"],
    "task_ids": [BOUND_IDS["task_id"]],
    "sqs_message_id": "5fea7756-0ea4-451a-a703-a558b933e274",
    "user_id": BOUND_IDS["user_id"],
}
SUCCEEDED = {
    "id": BOUND_IDS["task_id"],
    "name": BOUND_IDS["task"],
    "return_value": "'applied'",
    "runtime": 0.0031,
    "args": "[{...}]",
    "kwargs": "{}",
}
#: Celery's own format of that line (celery.app.trace.LOG_SUCCESS).
CELERY_SUCCEEDED = "Task %(name)s[%(id)s] succeeded in %(runtime)ss: %(return_value)s"
#: What logging does per record out of the box (module flags; logs.py may turn some off).
STOCK_FLAGS = {
    name: getattr(logging, name) for name in ("_srcfile", "logThreads", "logProcesses", "logMultiprocessing")
}


def stock_logging_config(log_format: str) -> dict[str, Any]:
    """The service's LOGGING with structlog's stock formatter and processors instead of logs.py's."""
    config = logs.logging_config(log_format=log_format, level="INFO")
    json_renderer = structlog.processors.JSONRenderer()
    config["formatters"]["structured"] = {
        "()": structlog.stdlib.ProcessorFormatter,
        "foreign_pre_chain": stock_pre_chain(),
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            logs.drop_unlogged_keys,
            structlog.dev.ConsoleRenderer(colors=False) if log_format == "console" else json_renderer,
            logs.mask_emails,
        ],
    }
    return config


def stock_pre_chain() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]


def configure(variant: str, log_format: str) -> None:
    for name, value in STOCK_FLAGS.items():
        setattr(logging, name, value)
    if variant == "stock":
        logging.config.dictConfig(stock_logging_config(log_format))
        structlog.configure(
            processors=[
                structlog.stdlib.filter_by_level,
                *stock_pre_chain(),
                structlog.stdlib.PositionalArgumentsFormatter(),
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
            ],
            logger_factory=structlog.stdlib.LoggerFactory(),
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )
    else:
        logging.config.dictConfig(logs.logging_config(log_format=log_format, level="INFO"))
        logs.configure_structlog()


def calls() -> dict[str, Callable[[], None]]:
    bridge = logging.getLogger("events.bridge.batch")
    celery = logging.getLogger("celery.app.trace")
    # A new proxy per configuration: a cached structlog logger keeps the processors it first saw.
    own = structlog.stdlib.get_logger("users_service.directory.tasks")
    return {
        "bridge": lambda: bridge.info("bridge: %s handed to the broker", "user.created", extra=HAND_OFF),
        "celery": lambda: celery.info(CELERY_SUCCEEDED, SUCCEEDED, extra={"data": SUCCEEDED}),
        "structlog": lambda: own.info("directory: applied", event_type="user.created", outcome="applied"),
    }


def cpu_us_per_record(call: Callable[[], None], records: int) -> float:
    started = time.process_time()
    for _ in range(records):
        call()
    return 1e6 * (time.process_time() - started) / records


@contextlib.contextmanager
def stderr_to_devnull() -> Iterator[io.TextIOWrapper]:
    """fd 2 goes to /dev/null (the handler still writes to the real stderr object); the progress
    stream returned writes to where stderr pointed."""
    sys.stderr.flush()
    saved = os.dup(2)
    progress = os.fdopen(os.dup(saved), "w", buffering=1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield progress
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
        progress.close()


def measure(records: int, rounds: int, progress: io.TextIOWrapper) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    with logs.bind_hop(**BOUND_IDS):
        for round_number in range(rounds):
            for log_format in FORMATS:
                for variant in ("stock", "service"):
                    configure(variant, log_format)
                    for case, call in calls().items():
                        for _ in range(records // 10):
                            call()
                        key = f"{case}/{log_format}/{variant}"
                        samples.setdefault(key, []).append(cpu_us_per_record(call, records))
            print(f"round {round_number + 1}/{rounds} done", file=progress)
    table: dict[str, Any] = {}
    for key, values in samples.items():
        case, log_format, variant = key.split("/")
        row = table.setdefault(f"{case}/{log_format}", {})
        row[variant] = round(statistics.median(values), 2)
        row[f"{variant}_samples"] = [round(v, 1) for v in values]
    for row in table.values():
        row["saved"] = f"{100 * (1 - row['service'] / row['stock']):.0f} %"
    return table


def profile_stock(records: int) -> dict[str, float]:
    """The stock chain's steps for the bridge line in json: microseconds per record each."""
    configure("stock", "json")
    logger = logging.getLogger("events.bridge.batch")
    handler = logging.getLogger().handlers[0]
    formatter = handler.formatter
    assert isinstance(formatter, structlog.stdlib.ProcessorFormatter)
    message = "bridge: %s handed to the broker"
    record = logger.makeRecord(
        logger.name, logging.INFO, "batch.py", 116, message, ("user.created",), None, HAND_OFF
    )
    steps: dict[str, float] = {}

    def per_record(fn: Callable[[], Any]) -> float:
        return statistics.median(cpu_us_per_record(fn, records) for _ in range(5))

    class Discard(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            pass

    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers[:] = [Discard()]
    steps["logger.info up to the handler (record, findCaller)"] = per_record(
        lambda: logger.info("bridge: %s handed to the broker", "user.created", extra=HAND_OFF)
    )
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    steps["  same without caller, thread and process attributes"] = per_record(
        lambda: logger.info("bridge: %s handed to the broker", "user.created", extra=HAND_OFF)
    )
    for name, value in STOCK_FLAGS.items():
        setattr(logging, name, value)
    root.handlers[:] = saved
    steps["ProcessorFormatter.format, whole"] = per_record(lambda: formatter.format(record))
    steps["  record copy (makeLogRecord)"] = per_record(lambda: logging.makeLogRecord(record.__dict__))
    copy = logging.makeLogRecord(record.__dict__)
    event_dict: Any = {"event": copy.getMessage(), "_record": copy, "_from_structlog": False}
    chain = [*formatter.foreign_pre_chain, *formatter.processors]  # type: ignore[misc]
    for processor in chain:
        name = getattr(processor, "__name__", type(processor).__name__)
        steps[f"  {name}"] = step_cost(processor, event_dict, records)
        event_dict = processor(None, "info", dict(event_dict) if isinstance(event_dict, dict) else event_dict)
    line = event_dict
    copy.msg, copy.args, copy.exc_info = line, (), None
    steps["  logging.Formatter.format"] = per_record(lambda: logging.Formatter.format(formatter, copy))
    steps["handler: lock, write, flush"] = per_record(lambda: write(handler, line))
    steps["  of which flush"] = per_record(handler.flush)
    steps["service formatter.format, whole"] = 0.0
    configure("service", "json")
    service = logging.getLogger().handlers[0].formatter
    assert service is not None
    steps["service formatter.format, whole"] = per_record(lambda: service.format(record))
    return {name: round(value, 2) for name, value in steps.items()}


def step_cost(processor: Callable[..., Any], received: Any, records: int) -> float:
    """One processor's CPU on the value it receives, less the cost of the fresh copy it is given."""
    fresh = (lambda: dict(received)) if isinstance(received, dict) else (lambda: received)
    return cpu_us_per_record(lambda: processor(None, "info", fresh()), records) - cpu_us_per_record(
        fresh, records
    )


def write(handler: logging.Handler, line: str) -> None:
    assert isinstance(handler, logging.StreamHandler)
    with handler.lock or contextlib.nullcontext():
        handler.stream.write(line + handler.terminator)
        handler.flush()


def _option(name: str, default: int) -> int:
    return int(sys.argv[sys.argv.index(name) + 1]) if name in sys.argv else default


def main() -> None:
    records = _option("--records", RECORDS)
    rounds = _option("--rounds", ROUNDS)
    with stderr_to_devnull() as progress:
        if "--prof" in sys.argv:
            with logs.bind_hop(**BOUND_IDS):
                output: dict[str, Any] = {"stock_steps_us_per_record": profile_stock(records)}
        else:
            output = {"us_per_record": measure(records, rounds, progress)}
    output.update(records=records, rounds=rounds, load_average_1m=round(os.getloadavg()[0], 2))
    print(json.dumps(output, indent=1))


if __name__ == "__main__":
    main()
