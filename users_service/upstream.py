"""The users service's one HTTP client of the monolith's REST API (MONOLITH_URL, MONOLITH_API_TOKEN).

One pooled session per thread, one timeout policy (MONOLITH_CONNECT_TIMEOUT /
MONOLITH_READ_TIMEOUT), one paging helper, and one mapping of failures to errors:

- `UpstreamUnavailable` (transient): unreachable, timed out, 429 or 5xx, or a body that is not JSON;
- `UpstreamNotFound`: 404;
- `UpstreamRefused`: any other answer (401/403: our token; 400: our request), which waiting
  does not fix, so tasks do not retry it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import requests
from django.conf import settings
from rest_framework.exceptions import APIException

from events.errors import TransientError

#: Called with (done, total) as pages arrive; total is the monolith's `count`.
Progress = Callable[[int, int], None]


class UpstreamError(Exception):
    """The monolith did not give the answer asked for."""


class UpstreamUnavailable(UpstreamError, TransientError):
    """The monolith could not answer (down, timed out, overloaded, 5xx): may clear by itself."""


class UpstreamNotFound(UpstreamError):
    """The monolith answered 404."""


class UpstreamRefused(UpstreamError):
    """The monolith refused the request (4xx other than 404 and 429): a token or a bug, not a blip."""


_local = threading.local()


def _session() -> requests.Session:
    # One pooled session per thread: requests.Session is not documented as thread-safe.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def monolith_get(
    path: str,
    *,
    params: dict[str, Any] | None = None,
    timeout: tuple[float, float] | None = None,
    also_accept: tuple[int, ...] = (),
) -> Any:
    """GET `path` on the monolith and return its JSON body; raises an `UpstreamError` otherwise.

    `timeout` (connect, read) replaces the configured one for a caller that must answer fast
    (a status page asking for the monolith's `/health/`); `also_accept` names statuses besides 200
    whose JSON body the caller wants (`/health/`'s 503 still carries its figures).

    Errors name the path and the status only: never a body, which may hold personal data.
    """
    url = settings.MONOLITH_URL.rstrip("/") + path
    try:
        response = _session().get(
            url,
            params=params,
            headers={"Authorization": f"Token {settings.MONOLITH_API_TOKEN}", "Accept": "application/json"},
            timeout=timeout or (settings.MONOLITH_CONNECT_TIMEOUT, settings.MONOLITH_READ_TIMEOUT),
        )
    except requests.RequestException as exc:
        raise UpstreamUnavailable(f"monolith unreachable: {type(exc).__name__}") from exc
    status = response.status_code
    if status in also_accept:
        status = 200
    if status == 404:
        raise UpstreamNotFound(path)
    if status == 429 or status >= 500:
        raise UpstreamUnavailable(f"monolith answered {status} for {path}")
    if status != 200:
        raise UpstreamRefused(f"monolith answered {status} for {path}")
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamUnavailable(f"monolith answered non-JSON for {path}") from exc


def monolith_pages(
    path: str, *, page_size: int, progress: Progress | None = None
) -> Iterator[dict[str, Any]]:
    """Every item of the monolith's paginated list at `path` (DRF limit/offset), page by page."""
    offset = 0
    while True:
        page = monolith_get(path, params={"limit": page_size, "offset": offset})
        results = page.get("results") if isinstance(page, dict) else None
        if not isinstance(results, list):
            raise UpstreamUnavailable(f"monolith answered a page without results for {path}")
        yield from results
        offset += len(results)
        if progress:
            progress(offset, int(page.get("count") or offset))
        if not page.get("next") or not results:
            return


class UpstreamUnavailableError(APIException):
    """The API's answer when a value is neither cached nor obtainable from the monolith."""

    status_code = 503
    default_detail = "The monolith is unavailable and no cached value exists; try again shortly."
    default_code = "upstream_unavailable"
