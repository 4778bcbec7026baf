"""The users service's HTTP client of the monolith's REST API (MONOLITH_URL, MONOLITH_API_TOKEN)."""

from __future__ import annotations

import threading
from typing import Any

import requests
from django.conf import settings
from rest_framework.exceptions import APIException


class UpstreamUnavailable(Exception):
    """The monolith could not answer (down, timed out, 5xx, or refused our token)."""


class UpstreamNotFound(Exception):
    """The monolith answered 404."""


_local = threading.local()


def _session() -> requests.Session:
    # One pooled session per thread: requests.Session is not documented as thread-safe.
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def monolith_get(path: str, *, params: dict[str, Any] | None = None) -> Any:
    """GET `path` on the monolith and return its JSON body."""
    url = settings.MONOLITH_URL.rstrip("/") + path
    try:
        response = _session().get(
            url,
            params=params,
            headers={"Authorization": f"Token {settings.MONOLITH_API_TOKEN}", "Accept": "application/json"},
            timeout=(settings.MONOLITH_CONNECT_TIMEOUT, settings.MONOLITH_READ_TIMEOUT),
        )
    except requests.RequestException as exc:
        raise UpstreamUnavailable(f"monolith unreachable: {type(exc).__name__}") from exc
    if response.status_code == 404:
        raise UpstreamNotFound(path)
    if response.status_code != 200:
        raise UpstreamUnavailable(f"monolith answered {response.status_code} for {path}")
    try:
        return response.json()
    except ValueError as exc:
        raise UpstreamUnavailable(f"monolith answered non-JSON for {path}") from exc


class UpstreamUnavailableError(APIException):
    """The API's answer when a value is neither cached nor obtainable from the monolith."""

    status_code = 503
    default_detail = "The monolith is unavailable and no cached value exists; try again shortly."
    default_code = "upstream_unavailable"
