"""The one client of the monolith: its error mapping, its timeouts and its paging, over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from devstack.processes import free_port
from events.errors import TransientError
from tests.users_service.cache.support import TOKEN
from tests.users_service.events import user_state_event
from users_service.directory.models import FailedTask
from users_service.resources.tasks import warm_resources
from users_service.upstream import (
    UpstreamNotFound,
    UpstreamRefused,
    UpstreamUnavailable,
    monolith_get,
    monolith_pages,
)

PERSONAL = "ada.lovelace@example.com"


class Scripted:
    """A monolith stand-in answering every GET with `status` and `body` (after `delay` seconds)."""

    def __init__(self) -> None:
        self.status, self.body, self.delay = 200, b"{}", 0.0
        self.pages: list[dict] | None = None
        self.requests: list[tuple[str, dict, str]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                scripted.requests.append((url.path, query, self.headers.get("Authorization", "")))
                time.sleep(scripted.delay)
                status, body = scripted.status, scripted.body
                if scripted.pages is not None:
                    body = json.dumps(scripted.page(int(query["limit"]), int(query["offset"]))).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, limit: int, offset: int) -> dict:
        items = self.pages or []
        more = offset + limit < len(items)
        return {
            "count": len(items),
            "next": "more" if more else None,
            "results": items[offset : offset + limit],
        }

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def monolith(settings) -> Iterator[Scripted]:
    scripted = Scripted()
    settings.MONOLITH_URL = scripted.url
    settings.MONOLITH_API_TOKEN = TOKEN
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


def test_a_good_answer_is_its_json_body_asked_for_with_the_services_token(monolith):
    monolith.body = b'{"ok": true}'
    assert monolith_get("/api/x/", params={"a": "1"}) == {"ok": True}
    assert monolith.requests == [("/api/x/", {"a": "1"}, f"Token {TOKEN}")]


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_overload_and_server_errors_are_transient(monolith, status):
    monolith.status, monolith.body = status, json.dumps({"detail": PERSONAL}).encode()
    with pytest.raises(UpstreamUnavailable) as caught:
        monolith_get("/api/users/")
    assert isinstance(caught.value, TransientError)
    assert PERSONAL not in str(caught.value)  # a body may hold personal data: never in an error


@pytest.mark.parametrize("status", [400, 401, 403, 409])
def test_refusals_are_not_transient(monolith, status):
    monolith.status = status
    with pytest.raises(UpstreamRefused) as caught:
        monolith_get("/api/users/")
    assert not isinstance(caught.value, TransientError)


def test_not_found_is_its_own_error(monolith):
    monolith.status = 404
    with pytest.raises(UpstreamNotFound):
        monolith_get("/api/users/x/")


def test_a_body_that_is_not_json_is_transient(monolith):
    monolith.body = b"<html>502 Bad Gateway</html>"
    with pytest.raises(UpstreamUnavailable, match="non-JSON"):
        monolith_get("/api/users/")


def test_a_monolith_slower_than_the_read_timeout_is_unavailable(monolith, settings):
    settings.MONOLITH_READ_TIMEOUT = 0.2
    monolith.delay = 1.0
    with pytest.raises(UpstreamUnavailable, match="ReadTimeout"):
        monolith_get("/api/users/")


def test_a_monolith_that_is_not_there_is_unavailable(settings):
    settings.MONOLITH_URL = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(UpstreamUnavailable, match="ConnectionError"):
        monolith_get("/api/users/")


def test_paging_follows_limit_and_offset_and_reports_progress(monolith):
    monolith.pages = [{"id": n} for n in range(7)]
    progress: list[tuple[int, int]] = []

    items = list(monolith_pages("/api/users/", page_size=3, progress=lambda *p: progress.append(p)))

    assert items == monolith.pages
    assert [(q["limit"], q["offset"]) for _, q, _ in monolith.requests] == [
        ("3", "0"),
        ("3", "3"),
        ("3", "6"),
    ]
    assert progress == [(3, 7), (6, 7), (7, 7)]


def test_a_page_without_results_is_unavailable(monolith):
    monolith.body = b'{"detail": "maintenance"}'
    with pytest.raises(UpstreamUnavailable, match="without results"):
        list(monolith_pages("/api/users/", page_size=10))


@pytest.mark.django_db
def test_a_warm_refused_by_the_monolith_fails_at_once_and_one_unavailable_retries(monolith):
    envelope = user_state_event("5b1f1f3e-0000-4000-8000-000000000001", 1)

    monolith.status = 401
    assert warm_resources.apply(args=[envelope], task_id="warm-refused").failed()
    assert len(monolith.requests) == 1
    refused = FailedTask.objects.get(task_id="warm-refused")
    assert (refused.attempts, refused.transient) == (1, False)

    monolith.requests.clear()
    monolith.status = 503
    assert warm_resources.apply(args=[envelope], task_id="warm-unavailable").failed()
    assert len(monolith.requests) == 1 + warm_resources.max_retries
    assert FailedTask.objects.get(task_id="warm-unavailable").transient is True
