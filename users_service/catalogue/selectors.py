"""Catalogue reads: read-through the cache, filled from the monolith's `/api/<kind>/`."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from users_service import cache_keys
from users_service.cached_response import json_body
from users_service.read_through import CachePolicy, Lookup, read_through
from users_service.upstream import UpstreamNotFound, UpstreamRefused, monolith_pages

CACHE_NAME = "catalogue"
#: Entries per upstream page; catalogues are small, so usually one call.
PAGE_LIMIT = 500


def catalogue_policy() -> CachePolicy:
    return CachePolicy(CACHE_NAME, settings.CATALOGUE_CACHE_TTL)


def catalogue_fetch(kind: str) -> list[dict[str, Any]]:
    """Every entry of the monolith's catalogue `kind`, following its pagination."""
    try:
        return [
            {"code": item["code"], "name": item["name"], "version": item["version"]}
            for item in monolith_pages(f"/api/{kind}/", page_size=PAGE_LIMIT)
        ]
    except UpstreamNotFound as exc:
        raise UpstreamRefused(f"the monolith has no catalogue {kind!r}") from exc


def catalogue_body(kind: str) -> bytes:
    """The API's JSON answer for catalogue `kind`: `{"kind", "count", "results"}`."""
    entries = catalogue_fetch(kind)
    return json_body({"kind": kind, "count": len(entries), "results": entries})


def catalogue_entry(*, kind: str) -> tuple[CachePolicy, str]:
    """The cache and key holding catalogue `kind`."""
    return catalogue_policy(), cache_keys.catalogue(kind)


def catalogue_entries(*, kind: str) -> Lookup:
    """Catalogue `kind` as the API's JSON body (`lookup.json()` decodes it), and whether it came
    from the cache."""
    policy, key = catalogue_entry(kind=kind)
    return read_through(policy=policy, key=key, fetch=lambda: catalogue_body(kind))
