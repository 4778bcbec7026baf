"""What one log line says: its exact keys and values, and the same line structlog's stock
`ProcessorFormatter` renders with the processors logs.py is built on (a line's cost went down, not
what it says)."""

from __future__ import annotations

import json
import logging
import re
import sys

import pytest
import structlog

from bench._log_record import stock_logging_config
from shared_settings.logs import bind_hop, configure_structlog, logging_config

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z")
IDS = {
    "event_id": "0b6c8f1e-3d1f-4c7e-9a63-2f1c1d9a7e10",
    "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
    "task_id": "0b6c8f1e:apply",
}


def _formatter(config: dict) -> logging.Formatter:
    spec = dict(config["formatters"]["structured"])
    return spec.pop("()")(**spec)


class BothFormatters(logging.Handler):
    """Renders each record with the service's formatter and with the stock one."""

    def __init__(self, log_format: str) -> None:
        super().__init__()
        self.service = _formatter(logging_config(log_format=log_format, level="INFO"))
        self.stock = _formatter(stock_logging_config(log_format))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((self.service.format(record), self.stock.format(record)))


@pytest.fixture
def rendered(request):
    handler = BothFormatters(request.param)
    root = logging.getLogger()
    old_level = root.level
    # First, before pytest's own handlers: theirs set `record.message`, which would read as an extra.
    root.handlers.insert(0, handler)
    root.setLevel(logging.INFO)
    configure_structlog()
    try:
        yield handler.lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


class Unserializable:
    def __repr__(self) -> str:
        return "<Unserializable>"


def log_every_kind() -> None:
    log = logging.getLogger("events.bridge.batch")
    with bind_hop(**IDS):
        hand_off = {"task_ids": ["a", "b"], "user_id": "u1"}
        log.info("bridge: %s handed to the broker", "user.created", extra=hand_off)
        log.warning("plain")
        log.info("extras that are never shown", extra={"email": "a@b.io", "payload": {}, "request": object()})
        log.info("an extra wins over a bound id", extra={"event_id": "from-extra", "n": Unserializable()})
        log.info("celery %(name)s", {"name": "task", "id": 1}, extra={"data": {"to": "ada@example.com"}})
        log.info("with its stack", stack_info=True)
        try:
            raise ValueError("duplicate key: ada@example.com")
        except ValueError:
            log.exception("failed for %s", "bob@example.org")
        try:
            raise KeyError("k")
        except KeyError:
            structlog.stdlib.get_logger("users_service.directory").exception("own logger", outcome="failed")
        structlog.stdlib.get_logger("users_service.directory").info("own logger %s", "args", first_name="Ada")


def _without_timestamp(line: str, log_format: str) -> tuple[str, object]:
    if log_format == "json":
        items = list(json.loads(line).items())
        (stamp,) = [value for key, value in items if key == "timestamp"]
        return stamp, [(key, value) for key, value in items if key != "timestamp"]
    stamp, rest = line.split(" ", 1)
    return stamp, rest


@pytest.mark.parametrize("rendered", ["json", "console"], indirect=True)
def test_each_line_is_the_stock_formatters_line(rendered, request):
    log_format = request.node.callspec.params["rendered"]
    log_every_kind()
    assert len(rendered) == 9
    for service, stock in rendered:
        service_stamp, service_rest = _without_timestamp(service, log_format)
        stock_stamp, stock_rest = _without_timestamp(stock, log_format)
        assert TIMESTAMP.fullmatch(service_stamp)
        assert TIMESTAMP.fullmatch(stock_stamp)
        assert service_rest == stock_rest


@pytest.mark.parametrize("rendered", ["json"], indirect=True)
def test_a_hand_off_line_carries_exactly_these_keys(rendered):
    log_every_kind()
    line = json.loads(rendered[0][0])
    assert TIMESTAMP.fullmatch(line.pop("timestamp"))
    assert line == {
        "event": "bridge: user.created handed to the broker",
        **IDS,
        "level": "info",
        "logger": "events.bridge.batch",
        "task_ids": ["a", "b"],
        "user_id": "u1",
    }
    assert list(line)[:1] == ["event"]
    assert list(line)[-4:] == ["level", "logger", "task_ids", "user_id"]


@pytest.mark.parametrize("rendered", ["json"], indirect=True)
def test_personal_data_is_dropped_or_masked_and_exceptions_are_text(rendered):
    log_every_kind()
    lines = [json.loads(service) for service, _ in rendered]
    (never_shown,) = [line for line in lines if line["event"] == "extras that are never shown"]
    assert not {"email", "payload", "request"} & set(never_shown)
    (failed,) = [line for line in lines if line["event"].startswith("failed for")]
    assert failed["event"] == "failed for [email]"
    assert failed["level"] == "error"
    assert "ValueError: duplicate key: [email]" in failed["exception"]
    assert list(failed)[-1] == "exception"
    (wins,) = [line for line in lines if line["event"] == "an extra wins over a bound id"]
    assert wins["event_id"] == "from-extra"
    assert wins["n"] == "<Unserializable>"
    (own,) = [line for line in lines if line["event"] == "own logger args"]
    assert "first_name" not in own
    assert own["logger"] == "users_service.directory"
    assert "example.com" not in "".join(service for service, _ in rendered)
    assert sys.exc_info() == (None, None, None)
