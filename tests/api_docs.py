"""What both services' tests check on their API docs pages: every file they load is served by the
service itself (no CDN), and it is there (found by the static files finders)."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders

#: The docs pages of each service (drf-spectacular's Swagger UI view). Redoc is not served: its
#: bundle loads a logo from cdn.redoc.ly whatever its options say (seen in tests/browser).
DOCS_PAGES = ("/api/docs/",)


class _References(HTMLParser):
    """Every `src` and `href` of the page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


def page_references(html: str) -> list[str]:
    parser = _References()
    parser.feed(html)
    return parser.found


def foreign_references(html: str) -> list[str]:
    """The page's `src`/`href` values that name a host (`https://cdn…`, `//cdn…`): none may."""
    return [ref for ref in page_references(html) if urlsplit(ref).netloc or urlsplit(ref).scheme]


def missing_static_files(html: str) -> list[str]:
    """The page's references under STATIC_URL that no static files finder can serve."""
    prefix = "/" + settings.STATIC_URL.lstrip("/")
    return [
        ref
        for ref in page_references(html)
        if ref.startswith(prefix) and finders.find(urlsplit(ref).path.removeprefix(prefix)) is None
    ]


def assert_docs_page_is_offline(client, page: str) -> None:
    """The page answers and every script and style it names is a file of the service itself."""
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert page_references(html), "the page references no script or style at all"
    assert foreign_references(html) == []
    assert missing_static_files(html) == []
