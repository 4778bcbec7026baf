"""gunicorn's access log through `AccessLogger` (shared_settings/access_log.py): the same line as
gunicorn's own logger gives, for its default format and for one that names headers and environ;
the lines to stdout written in batches, none lost when gunicorn stops, a lone one written anyway."""

from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from gunicorn import glogging
from gunicorn.config import Config

from devstack.processes import free_port, port_open, wait_until
from shared_settings.access_log import MAX_PENDING_LINES, AccessLogger

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = str(Path(sys.executable).parent / "gunicorn")


class Response:
    status = "200 OK"
    sent = 205
    headers = [("Content-Type", "application/json"), ("X-Cache", "hit")]


class Request:
    headers = [("HOST", "127.0.0.1"), ("USER-AGENT", 'wrk "4"'), ("X-Request-Id", "r-1")]


ENVIRON = {
    "REQUEST_METHOD": "GET",
    "RAW_URI": "/api/catalogue/departments/?a=1",
    "PATH_INFO": "/api/catalogue/departments/",
    "QUERY_STRING": "a=1",
    "SERVER_PROTOCOL": "HTTP/1.1",
    "REMOTE_ADDR": "10.0.0.7",
    "HTTP_USER_AGENT": 'wrk "4"',
    "HTTP_REFERER": "https://example.org/",
    "HTTP_AUTHORIZATION": "Basic cmVhZGVyOng=",
    "wsgi.url_scheme": "https",
}

FORMATS = [
    Config().access_log_format,
    "%(h)s %(m)s %(U)s %(q)s %(H)s %(s)s %(B)s %(T)s %(D)s %(M)s %(L)s %(p)s %(l)s",
    '%(h)s "%({x-request-id}i)s" %({x-cache}o)s %({wsgi.url_scheme}e)s %({missing}i)s',
]


def access_line(logger_class: type[glogging.Logger], access_log_format: str) -> str:
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", access_log_format)
    logger = logger_class(cfg)
    out = io.StringIO()
    # gunicorn's own line format (glogging.CONFIG_DEFAULTS), into this test's stream.
    logger.access_log = logging.Logger("access")
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.access_log.addHandler(handler)
    logger.now = lambda: "[01/Dec/2026:17:00:00 +0000]"
    logger.access(Response(), Request(), ENVIRON, timedelta(microseconds=1234))
    return out.getvalue()


@pytest.mark.parametrize("access_log_format", FORMATS)
def test_the_access_line_is_gunicorns(access_log_format):
    line = access_line(AccessLogger, access_log_format)

    assert line == access_line(glogging.Logger, access_log_format)
    assert line.startswith("10.0.0.7 ")


# --- written in batches ------------------------------------------------------------------------------


class CountingStream(io.StringIO):
    """A stream that counts the writes it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def stdout_logger(monkeypatch: pytest.MonkeyPatch, stream: io.StringIO) -> AccessLogger:
    """`AccessLogger` as docker/gunicorn.conf.py sets it up (`accesslog = "-"`), on `stream` for stdout."""
    monkeypatch.setattr(sys, "stdout", stream)
    cfg = Config()
    cfg.set("accesslog", "-")
    logger = AccessLogger(cfg)
    # The flushing thread's interval, out of this test's way.
    monkeypatch.setattr(logger._get_gunicorn_handler(logger.access_log), "flush_seconds", 3600, raising=False)
    return logger


def test_access_lines_to_stdout_are_written_in_batches(monkeypatch):
    stream = CountingStream()
    logger = stdout_logger(monkeypatch, stream)

    for _ in range(10):
        logger.access(Response(), Request(), ENVIRON, timedelta(microseconds=1234))
    assert stream.writes == 0

    logger._get_gunicorn_handler(logger.access_log).flush()
    assert stream.writes == 1
    lines = stream.getvalue().splitlines()
    assert len(lines) == 10
    assert all(line.startswith("10.0.0.7 ") for line in lines)


def test_a_full_batch_is_written_at_once(monkeypatch):
    stream = CountingStream()
    logger = stdout_logger(monkeypatch, stream)

    for _ in range(MAX_PENDING_LINES):
        logger.access(Response(), Request(), ENVIRON, timedelta(microseconds=1234))

    assert stream.writes == 1
    assert len(stream.getvalue().splitlines()) == MAX_PENDING_LINES


def test_an_access_log_file_keeps_gunicorns_handler(tmp_path):
    """gunicorn reopens its FileHandlers on USR1 (log rotation): a file is not buffered."""
    cfg = Config()
    cfg.set("accesslog", str(tmp_path / "access.log"))

    logger = AccessLogger(cfg)
    assert type(logger._get_gunicorn_handler(logger.access_log)) is logging.FileHandler


# --- under gunicorn, with the services' config ----------------------------------------------------


@pytest.fixture
def gunicorn(tmp_path):
    """gunicorn with docker/gunicorn.conf.py serving tests/settings/hello_wsgi.py, its stdout in a file:
    (its URL, the file, the process)."""
    port = free_port()
    out = tmp_path / "stdout"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "WEB_CONCURRENCY": "2"}
    with open(out, "wb") as stdout:
        command = [GUNICORN, "tests.settings.hello_wsgi:application", "--config", "docker/gunicorn.conf.py"]
        process = subprocess.Popen(
            [*command, "--bind", f"127.0.0.1:{port}", "--no-control-socket"],
            cwd=ROOT,
            env=env,
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: port_open(port), timeout=30, what="gunicorn")
        yield f"http://127.0.0.1:{port}", out, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def access_lines(out: Path, path: str) -> list[str]:
    return [line for line in out.read_text().splitlines() if f'"GET {path}' in line]


def test_no_access_line_is_lost_when_gunicorn_stops(gunicorn):
    url, out, process = gunicorn
    with requests.Session() as session:
        for n in range(200):
            assert session.get(f"{url}/n{n}", timeout=10).status_code == 200

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)

    assert sorted(access_lines(out, "/n")) == sorted(set(access_lines(out, "/n")))
    assert len(access_lines(out, "/n")) == 200


def test_a_lone_access_line_is_written_without_more_requests(gunicorn):
    url, out, _ = gunicorn
    assert requests.get(f"{url}/lone", timeout=10).status_code == 200

    wait_until(lambda: len(access_lines(out, "/lone")) == 1, timeout=30, what="the access line")
