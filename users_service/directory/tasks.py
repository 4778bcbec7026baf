"""Celery tasks of the directory: each a thin shell around a service function."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import OperationalError

from users_service.directory import services


@shared_task(
    name="directory.apply_user_event",
    bind=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=8,
)
def apply_user_event(self: Any, envelope: dict[str, Any]) -> str:
    return services.apply_user_event(envelope=envelope, task_name=self.name).value
