"""Container health checks without curl: `url URL` (200 expected), `tcp HOST:PORT ...` (all answer),
or `alive MAX_AGE` (the process touched its LIVENESS_FILE within MAX_AGE seconds: events/liveness.py).

Run every few seconds inside the container: it starts in a few milliseconds and imports nothing of
Django or Celery (the worker's check used to start the Celery CLI, a second of CPU each time)."""

from __future__ import annotations

import os
import socket
import sys
import urllib.request
from pathlib import Path

# The code's directory, for `events.liveness`, whatever the working directory of the check.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from events.liveness import is_alive


def url_ok(url: str) -> bool:
    if not url.startswith(("http://", "https://")):
        return False
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - http(s) only, checked above
            return response.status == 200
    except OSError:
        return False


def tcp_ok(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=3):
            return True
    except OSError:
        return False


def alive(max_age: str) -> bool:
    path = os.environ.get("LIVENESS_FILE")
    return bool(path) and is_alive(path, float(max_age))


def main(argv: list[str]) -> int:
    mode, targets = argv[0], argv[1:]
    if mode == "alive":
        return 0 if len(targets) == 1 and alive(targets[0]) else 1
    check = {"url": url_ok, "tcp": tcp_ok}[mode]
    return 0 if targets and all(check(target) for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
