"""Celery task of the catalogue cache: a thin shell around its service."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from users_service.catalogue import services
from users_service.read_through import InvalidationFailed


@shared_task(
    name="catalogue.invalidate",
    autoretry_for=(InvalidationFailed,),
    retry_backoff=True,
    retry_backoff_max=30,
    retry_jitter=True,
    max_retries=5,
)
def invalidate_catalogue(envelope: dict[str, Any]) -> str:
    kind = envelope["payload"]["kind"]
    services.catalogue_invalidate(kind=kind)
    return f"invalidated {kind}"
