"""A WSGI application that answers every request with one constant JSON body and the headers of a
cache hit, without Django: the floor of a hit under the benchmarks' gunicorn
(`python -m bench._hit_layers`)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

#: About the size of a resources answer of the benchmarks' demo data (two or three grants).
BODY = json.dumps(
    {
        "user_id": "00000000-0000-0000-0000-000000000000",
        "resources": [
            {"resource": name, "level": "read", "granted_at": "2026-11-23T10:00:00Z"}
            for name in ("vpn", "wiki", "payroll")
        ],
    },
    separators=(",", ":"),
).encode()
HEADERS = [
    ("Content-Type", "application/json"),
    ("X-Cache", "hit"),
    ("Vary", "Accept"),
    ("Allow", "GET, HEAD, OPTIONS"),
    ("X-Frame-Options", "DENY"),
    ("Content-Length", str(len(BODY))),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
]


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    start_response("200 OK", HEADERS)
    return [BODY]
