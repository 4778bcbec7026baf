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

from django.conf import settings

from users_service.directory import repair
from users_service.directory.models import UserRecord
from users_service.directory.repair import RepairOutcome
from users_service.upstream import Progress, UpstreamNotFound, monolith_get, monolith_pages

#: The monolith's users, page by page (the argument reports progress).
UserListing = Callable[[Progress | None], Iterator[dict[str, Any]]]


@dataclass
class ReconciliationResult:
    upstream_users: int = 0
    counts: Counter = field(default_factory=Counter)
    repairs: list[dict[str, Any]] = field(default_factory=list)


def upstream_users(progress: Progress | None = None) -> Iterator[dict[str, Any]]:
    """Every user of the monolith's `GET /api/users/`, RECONCILIATION_PAGE_SIZE a page."""
    return monolith_pages("/api/users/", page_size=settings.RECONCILIATION_PAGE_SIZE, progress=progress)


def upstream_user_exists(user_id: str) -> bool:
    try:
        monolith_get(f"/api/users/{user_id}/")
    except UpstreamNotFound:
        return False
    return True


def reconcile(
    *, progress: Progress | None = None, listing: UserListing = upstream_users
) -> ReconciliationResult:
    """Compare and repair; returns what was repaired (unchanged users are only counted).

    Raises `users_service.upstream.UpstreamError` when the monolith does not answer as expected.
    """
    result = ReconciliationResult()
    seen: set[str] = set()
    for snapshot in listing(progress):
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
        if str(user_id) in seen or upstream_user_exists(str(user_id)):
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
