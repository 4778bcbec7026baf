"""Reconciliation: page through the monolith's `GET /api/users/` and repair the read model's drift.

Finds users missing from the read model, stale or corrupted rows, and users the
read model still has but the monolith no longer does (erased while the event was
lost). Each suspected erasure is confirmed with a `GET /api/users/<id>/` (404)
first: a user created while we paged may be missing from our pages, and a
tombstone can never be undone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings

from users_service.directory import repair
from users_service.directory.models import UserRecord
from users_service.directory.repair import RepairOutcome

#: Called with (done, total) as pages arrive; total is the monolith's `count`.
Progress = Callable[[int, int], None]


class MonolithError(RuntimeError):
    """The monolith's API answered with something other than the expected page."""


@dataclass
class ReconciliationResult:
    upstream_users: int = 0
    counts: Counter = field(default_factory=Counter)
    repairs: list[dict[str, Any]] = field(default_factory=list)


class MonolithClient:
    def __init__(self, base_url: str | None = None, token: str | None = None, timeout: float = 10.0) -> None:
        self.base_url = (base_url or settings.MONOLITH_URL).rstrip("/")
        self.session = requests.Session()
        token = settings.MONOLITH_API_TOKEN if token is None else token
        if token:
            self.session.headers["Authorization"] = f"Token {token}"
        self.timeout = timeout

    def _get(self, path: str, params: dict | None = None) -> requests.Response:
        response = self.session.get(f"{self.base_url}{path}", params=params, timeout=self.timeout)
        if response.status_code not in (200, 404):
            raise MonolithError(f"GET {path} answered {response.status_code}: {response.text[:200]}")
        return response

    def iter_users(self, *, page_size: int, progress: Progress | None = None) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            response = self._get("/api/users/", {"limit": page_size, "offset": offset})
            if response.status_code != 200:
                raise MonolithError(f"GET /api/users/ answered {response.status_code}")
            page = response.json()
            results = page["results"]
            yield from results
            offset += len(results)
            if progress:
                progress(offset, page["count"])
            if not page.get("next") or not results:
                return

    def user_exists(self, user_id: str) -> bool:
        return self._get(f"/api/users/{user_id}/").status_code == 200


def reconcile(
    *, client: MonolithClient | None = None, progress: Progress | None = None
) -> ReconciliationResult:
    """Compare and repair; returns what was repaired (unchanged users are only counted)."""
    client = client or MonolithClient()
    result = ReconciliationResult()
    seen: set[str] = set()
    for snapshot in client.iter_users(page_size=settings.RECONCILIATION_PAGE_SIZE, progress=progress):
        seen.add(str(snapshot["id"]))
        before = UserRecord.objects.filter(pk=snapshot["id"]).values_list("version", flat=True).first()
        outcome = repair.user_repair_from_upstream(snapshot=snapshot)
        result.counts[outcome.value] += 1
        if outcome not in (RepairOutcome.UNCHANGED,):
            result.repairs.append(
                {
                    "user_id": str(snapshot["id"]),
                    "action": outcome.value,
                    "local_version": before,
                    "upstream_version": snapshot["version"],
                }
            )
    result.upstream_users = len(seen)
    local_live = UserRecord.objects.filter(erased=False, version__gt=0).values_list("id", "version")
    for user_id, version in list(local_live):
        if str(user_id) in seen or client.user_exists(str(user_id)):
            continue
        outcome = repair.user_tombstone_missing_upstream(user_id=str(user_id))
        result.counts[outcome.value] += 1
        if outcome is RepairOutcome.ERASED:
            result.repairs.append(
                {
                    "user_id": str(user_id),
                    "action": outcome.value,
                    "local_version": version,
                    "upstream_version": None,
                }
            )
    return result
