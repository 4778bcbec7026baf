"""Helpers of the cache tests: a stand-in monolith over real HTTP, and reading counters.

The stand-in serves the two monolith endpoints the caches read, counts the calls it
receives and can be stopped, which the real monolith in tests/e2e cannot do cheaply.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from devstack.processes import free_port
from users_service.ops import metrics

TOKEN = "monolith-test-token"
RESOURCES_PATH = re.compile(r"^/api/users/([0-9a-f-]{36})/resources/$")
CATALOGUE_PATH = re.compile(r"^/api/(departments|positions|locations)/$")


class _Server(ThreadingHTTPServer):
    # The default backlog (5) refuses bursts of concurrent connections.
    request_queue_size = 128
    daemon_threads = True


class FakeMonolith:
    def __init__(self) -> None:
        self.delay_seconds = 0.0
        self.catalogues: dict[str, list[dict]] = {
            "departments": [{"code": "ENG", "name": "Engineering", "version": 1}],
            "positions": [],
            "locations": [{"code": "LON", "name": "London", "version": 1}],
        }
        self.resources: dict[str, list[dict]] = {}
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", free_port()), self._handler())
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def add_user(self, *resources: str) -> str:
        user_id = str(uuid.uuid4())
        self.resources[user_id] = [
            {"resource": r, "level": "read", "granted_at": "2026-11-23T10:00:00Z"} for r in resources
        ]
        return user_id

    def start(self) -> FakeMonolith:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self.server.shutdown()
            self.server.server_close()

    def _answer(self, path: str, query: dict) -> tuple[int, dict]:
        if match := RESOURCES_PATH.match(path):
            time.sleep(self.delay_seconds)
            user_id = match.group(1)
            if user_id not in self.resources:
                return 404, {"detail": "No employee with this id."}
            return 200, {"user_id": user_id, "resources": self.resources[user_id]}
        if match := CATALOGUE_PATH.match(path):
            entries = self.catalogues[match.group(1)]
            limit, offset = int(query.get("limit", ["50"])[0]), int(query.get("offset", ["0"])[0])
            more = offset + limit < len(entries)
            next_url = f"{self.url}{path}?limit={limit}&offset={offset + limit}" if more else None
            return 200, {"count": len(entries), "next": next_url, "results": entries[offset : offset + limit]}
        return 404, {"detail": "Not found."}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        monolith = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                with monolith._lock:
                    monolith.calls[url.path] += 1
                if self.headers.get("Authorization") != f"Token {TOKEN}":
                    status, body = 401, {"detail": "Invalid token."}
                else:
                    status, body = monolith._answer(url.path, parse_qs(url.query))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler


#: The metrics as the running test started (set by the `cache_metrics` fixture): counters are
#: shared by every process and test of the run, so a test reads what it added since.
_baseline: dict[str, float] = {}


def start_counting() -> None:
    _baseline.clear()
    _baseline.update(metrics.snapshot())


def counted() -> dict[str, float]:
    """Every series' increase since the test started."""
    return {key: value - _baseline.get(key, 0.0) for key, value in metrics.snapshot().items()}


def counter(name: str, cache: str, **labels: str) -> float:
    return counted().get(metrics.series(name, {"cache": cache, **labels}), 0.0)
