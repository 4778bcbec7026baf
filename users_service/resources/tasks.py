"""Celery tasks of the resources cache: thin shells around its services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from users_service.read_through import InvalidationFailed
from users_service.resources import services
from users_service.task_policy import AUTORETRY_BACKOFF
from users_service.upstream import UpstreamUnavailable


@shared_task(
    name="resources.invalidate",
    autoretry_for=(InvalidationFailed,),
    **AUTORETRY_BACKOFF,
    max_retries=5,
)
def invalidate_resources(envelope: dict[str, Any]) -> str:
    services.resources_invalidate(user_id=envelope["aggregate_id"])
    return "invalidated"


@shared_task(
    name="resources.warm",
    autoretry_for=(UpstreamUnavailable,),
    **AUTORETRY_BACKOFF,
    max_retries=3,
)
def warm_resources(envelope: dict[str, Any]) -> str:
    return services.resources_warm(user_id=envelope["aggregate_id"])
