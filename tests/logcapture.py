"""Capture what a hop really logs: the records go through the services' own structlog formatter
(shared_settings/logs.py, JSON lines) into a buffer, and come back parsed."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator

from shared_settings.logs import logging_config


class LogLines(list):
    """The parsed JSON lines; `text` is the raw output (to assert what never appears)."""

    text: str = ""

    def with_event(self, fragment: str) -> list[dict]:
        return [line for line in self if fragment in line.get("event", "")]


@contextlib.contextmanager
def json_log_lines(level: int = logging.INFO) -> Iterator[LogLines]:
    spec = dict(logging_config(log_format="json", level="INFO")["formatters"]["structured"])
    formatter = spec.pop("()")(**spec)
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    lines = LogLines()
    try:
        yield lines
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        lines.text = buffer.getvalue()
        lines.extend(json.loads(line) for line in lines.text.splitlines() if line.strip())
