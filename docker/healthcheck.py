"""Container health checks without curl: `url URL` (200 expected) or `tcp HOST:PORT ...` (all answer)."""

from __future__ import annotations

import socket
import sys
import urllib.request


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


def main(argv: list[str]) -> int:
    mode, targets = argv[0], argv[1:]
    check = {"url": url_ok, "tcp": tcp_ok}[mode]
    return 0 if targets and all(check(target) for target in targets) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
