"""CPU and round trips of one cache hit, in process: `python -m bench._profile_cache_hit [--prof]`.

Not a benchmark (no load tool, no baseline): the tool behind the "What a hit costs" figures in
README. It runs the users service's WSGI application on a throw-away Redis and SQLite, warms one
resources entry and one 50-entry catalogue, then reports per hit, answered in front of Django and
before DRF (users_service/cache_hits.py) and through DRF (`CACHE_FAST_HITS` off): CPU microseconds
(`time.process_time`, the least of 20 batches of 100 hits), Redis commands sent (pipelines count
once) and database queries; `--prof` adds a cProfile listing.
"""

from __future__ import annotations

import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.processes import free_port
from devstack.redis import RedisServer

HITS = 2000
BATCH = 100


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="profile-cache-hit-"))
    server = RedisServer(free_port(), tmp / "redis").start()
    try:
        os.environ.update(
            VAR_DIR=str(tmp),
            CACHE_REDIS_URL=f"{server.url}/1",
            CELERY_BROKER_URL=f"{server.url}/0",
            DJANGO_DEBUG="false",
            USERS_SECRET_KEY=os.urandom(16).hex(),
            LOG_LEVEL="WARNING",
            # The throttle runs (its cost is measured) but must not refuse the profiler.
            USERS_API_THROTTLE_USER="100000000/min",
            DJANGO_SETTINGS_MODULE="users_service.settings",
        )
        os.environ.pop("USERS_DATABASE_URL", None)
        profile(with_cprofile="--prof" in sys.argv)
    finally:
        server.stop()


def _stub_monolith(user_id: str) -> None:
    """The fills read canned answers instead of the monolith's API; the hits measured never reach it."""
    import users_service.catalogue.selectors as catalogue_selectors
    import users_service.resources.selectors as resources_selectors

    grants = [{"resource": r, "level": "read", "granted_at": "2026-11-23T10:00:00Z"} for r in ("vpn", "wiki")]
    departments = [{"code": f"D{n:02d}", "name": f"Department {n}", "version": 1} for n in range(50)]

    def monolith_get(path: str, params: dict | None = None) -> Any:
        return {"user_id": user_id, "resources": grants}

    def monolith_pages(path: str, page_size: int = 50) -> Any:
        return iter(departments)

    resources_selectors.monolith_get = monolith_get
    catalogue_selectors.monolith_pages = monolith_pages


def _wsgi_client(token: str, app: Callable[..., Any]) -> Callable[[str], tuple[str, dict[str, str], bytes]]:
    """GET through the WSGI application `app` in this process: (status, headers, body)."""
    from django.test import RequestFactory

    factory = RequestFactory()

    def get(path: str) -> tuple[str, dict[str, str], bytes]:
        # Over HTTPS, as production serves it (plain HTTP would get the HTTPS redirect).
        environ = factory._base_environ(
            PATH_INFO=path,
            REQUEST_METHOD="GET",
            HTTP_HOST="127.0.0.1",
            HTTP_AUTHORIZATION=f"Token {token}",
            SERVER_PORT="443",
            **{"wsgi.url_scheme": "https"},
        )
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> None:
            answer.update(status=status, headers=dict(headers))

        chunks = app(environ, start_response)
        body = b"".join(chunks)
        if hasattr(chunks, "close"):  # Django's response has one, a hit's list of bytes not
            chunks.close()
        return answer["status"], answer["headers"], body

    return get


def _count_redis_commands() -> dict[str, int]:
    """A counter of the commands redis-py sends from now on (a pipeline counts once)."""
    import redis.connection

    sent = {"commands": 0}
    connection_class = getattr(redis.connection, "AbstractConnection", redis.connection.Connection)
    original_send = connection_class.send_packed_command

    def counting_send(self: Any, *args: Any, **kwargs: Any) -> Any:
        sent["commands"] += 1
        return original_send(self, *args, **kwargs)

    connection_class.send_packed_command = counting_send
    return sent


def _print_profile(get: Callable[[str], Any], path: str) -> None:
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [get(path) for _ in range(1000)])
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats(os.environ.get("PROFILE_SORT", "tottime")).print_stats(
        int(os.environ.get("PROFILE_LINES", "30"))
    )
    print(out.getvalue())


def _measure_hits(
    name: str, path: str, clients: dict[str, Callable[[str], Any]], sent: dict[str, int]
) -> None:
    from django.conf import settings
    from django.db import connection

    # Each hit path in turn: in front of Django and before DRF (users_service/cache_hits.py), through DRF.
    for depth, fast in (("in front of Django", True), ("before DRF", True), ("through DRF", False)):
        settings.CACHE_FAST_HITS = fast
        get = clients["service" if depth == "in front of Django" else "django"]
        _measure_one(f"{name} ({depth})", path, get, sent, connection)


def _measure_one(
    name: str, path: str, get: Callable[[str], Any], sent: dict[str, int], connection: Any
) -> None:
    for _ in range(3):  # fills, remembers the token
        get(path)
    status, headers, body = get(path)
    if not status.startswith("200") or headers["X-Cache"] != "hit":
        raise SystemExit(f"{path}: expected a 200 hit, got {status} {headers}")
    sent["commands"] = 0
    queries = []
    # execute_wrapper, not CaptureQueriesContext: each request's request_started resets the latter.
    with connection.execute_wrapper(
        lambda execute, *args, queries=queries: queries.append(1) or execute(*args)
    ):
        for _ in range(100):
            get(path)
    round_trips = sent["commands"] / 100
    # The least CPU of a batch: on a shared machine the others' load only ever adds to a batch.
    batches = []
    for _ in range(HITS // BATCH):
        started = time.process_time()
        for _ in range(BATCH):
            get(path)
        batches.append((time.process_time() - started) / BATCH * 1e6)
    cpu_us = min(batches)
    print(
        f"{name}: {cpu_us:.0f} us CPU per hit, {round_trips:.2f} Redis round trips, "
        f"{len(queries) / 100:.2f} database queries, body {len(body)} bytes"
    )


def profile(*, with_cprofile: bool) -> None:
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from rest_framework.authtoken.models import Token

    call_command("migrate", verbosity=0)
    token = Token.objects.create(user=get_user_model().objects.create_user("profiler", password="x")).key
    user_id = str(uuid.uuid4())
    _stub_monolith(user_id)
    from django.core.handlers.wsgi import WSGIHandler

    from users_service.cache_hits import CacheHitApplication

    clients = {
        "service": _wsgi_client(token, CacheHitApplication(WSGIHandler())),
        "django": _wsgi_client(token, WSGIHandler()),
    }
    sent = _count_redis_commands()
    for name, path in {
        "resources": f"/api/users/{user_id}/resources/",
        "catalogue": "/api/catalogue/departments/",
    }.items():
        _measure_hits(name, path, clients, sent)
        if with_cprofile:
            from django.conf import settings

            settings.CACHE_FAST_HITS = True
            _print_profile(clients["service"], path)


if __name__ == "__main__":
    main()
