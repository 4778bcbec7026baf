"""gunicorn's access log through `AccessLogger` (shared_settings/access_log.py): the same line as
gunicorn's own logger gives, for its default format and for one that names headers and environ."""

from __future__ import annotations

import io
import logging
from datetime import timedelta

import pytest
from gunicorn import glogging
from gunicorn.config import Config

from shared_settings.access_log import AccessLogger


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
