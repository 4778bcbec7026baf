"""What a record of Django's own loggers carries once rendered: its status, not the objects Django
hands over as extras (runserver's socket, the request object)."""

from __future__ import annotations

import logging
import socket

from tests.logcapture import json_log_lines


def test_runserver_lines_carry_no_socket_or_request_object():
    with socket.socket() as connection, json_log_lines() as lines:
        logging.getLogger("django.server").info(
            '"%s" %s %s',
            "GET /health/ HTTP/1.1",
            "200",
            "180",
            extra={"request": connection, "server_time": "01/Dec/2026 16:28:50", "status_code": 200},
        )
        logging.getLogger("django.request").warning(
            "Not Found: %s", "/nowhere/", extra={"request": object(), "status_code": 404}
        )
    (served, missing) = lines
    assert served["status_code"] == 200
    assert missing["status_code"] == 404
    for line in lines:
        assert "request" not in line
        assert "server_time" not in line
    assert "socket" not in lines.text
    assert "object at 0x" not in lines.text
