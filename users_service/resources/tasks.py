"""Celery tasks of the resources cache: thin shells around its services."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from events.errors import TransientError
from users_service.resources import services

#: What may clear by itself: the cache Redis refusing an invalidation (`InvalidationFailed`),
#: the monolith unreachable or overloaded (`UpstreamUnavailable`).
TRANSIENT_ERRORS = (TransientError,)


@shared_task(name="resources.invalidate", autoretry_for=TRANSIENT_ERRORS)
def invalidate_resources(envelope: dict[str, Any]) -> str:
    services.resources_invalidate(user_id=envelope["aggregate_id"])
    return "invalidated"


@shared_task(name="resources.warm", autoretry_for=TRANSIENT_ERRORS)
def warm_resources(envelope: dict[str, Any]) -> str:
    return services.resources_warm(user_id=envelope["aggregate_id"])
