"""The old inline listener against fan-out to Celery, for handlers that wait on a slow upstream.

Three events whose handlers wait 60, 60 and 30 units on an HTTP upstream (1 unit = 10 ms).
The old design handles them one after another on the listener's thread: 150 units. Fan-out
publishes one task per event to Redis and a threads-pool worker runs them side by side:
ideally 60 units. `value` is the fan-out time (first publish to last task end, median of a
few rounds), `baseline` the inline time, `ratio` baseline/value; the ideal is reported too.
"""

from __future__ import annotations

import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import requests

from bench._celery_workers import call_upstream, publish, reset_times, start_redis, start_worker, task_times
from bench.common import emit, log, result
from devstack.processes import wait_until

UNIT_MS = 10
HANDLER_UNITS = (60, 60, 30)
ROUNDS = 5


class SlowUpstream(BaseHTTPRequestHandler):
    """Answers `/slow?ms=N` after N milliseconds: the monolith's slow endpoint, standing in."""

    def do_GET(self) -> None:
        time.sleep(int(parse_qs(urlparse(self.path).query)["ms"][0]) / 1000)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def urls(base: str) -> list[str]:
    return [f"{base}/slow?ms={units * UNIT_MS}" for units in HANDLER_UNITS]


def inline_listener(base: str) -> float:
    """The old design: the listener thread calls each handler in turn."""
    session = requests.Session()
    started = time.perf_counter()
    for url in urls(base):
        session.get(url, timeout=30).raise_for_status()
    return time.perf_counter() - started


def fan_out(base: str, broker_url: str) -> float:
    reset_times(broker_url)
    started = time.time()
    publish([call_upstream.s(url, f"e{index}") for index, url in enumerate(urls(base))])
    wait_until(lambda: len(task_times(broker_url)) >= len(HANDLER_UNITS), timeout=30, what="fan-out")
    return max(t[2] for t in task_times(broker_url)) - started


def main() -> None:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), SlowUpstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{upstream.server_address[1]}"
    server = start_redis()
    broker_url = f"{server.url}/0"
    worker = None
    try:
        worker = start_worker(broker_url, concurrency=8)
        inline = [inline_listener(base) for _ in range(ROUNDS)]
        fanned = [fan_out(base, broker_url) for _ in range(ROUNDS)]
    finally:
        if worker is not None:
            worker.stop()
        server.stop()
        upstream.shutdown()
    inline_s, fanout_s = statistics.median(inline), statistics.median(fanned)
    ideal_s = max(HANDLER_UNITS) * UNIT_MS / 1000
    log(f"inline {inline_s:.3f}s, fan-out {fanout_s:.3f}s, ideal {ideal_s:.3f}s")
    emit(
        result(
            "fanout_150",
            unit="s",
            value=fanout_s,
            baseline=inline_s,
            ratio=inline_s / fanout_s,
            params={
                "handler_units": list(HANDLER_UNITS),
                "unit_ms": UNIT_MS,
                "rounds": ROUNDS,
                "pool": "threads",
            },
            inline_units=round(inline_s * 1000 / UNIT_MS, 1),
            fanout_units=round(fanout_s * 1000 / UNIT_MS, 1),
            ideal_units=max(HANDLER_UNITS),
            ideal_over_fanout=round(ideal_s / fanout_s, 3),
            ideal_inline_over_inline=round(sum(HANDLER_UNITS) * UNIT_MS / 1000 / inline_s, 3),
        )
    )


if __name__ == "__main__":
    main()
