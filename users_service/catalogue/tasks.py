"""Celery task of the catalogue cache: a thin shell around its service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from users_service.catalogue import services
from users_service.read_through import InvalidationFailed

#: What may clear by itself: the cache Redis refusing the invalidation.
TRANSIENT_ERRORS = (InvalidationFailed,)


@shared_task(name="catalogue.invalidate", autoretry_for=TRANSIENT_ERRORS)
def invalidate_catalogue(envelope: dict[str, Any]) -> str:
    kind = envelope["payload"]["kind"]
    services.catalogue_invalidate(kind=kind)
    return f"invalidated {kind}"
