"""The users service's Celery app (Redis broker). Settings live in `settings.py` under CELERY_*;
every task gets `ServiceTask` (bounded countdowns, transient retries, failed-task records)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "users_service.settings")

app = Celery("users_service", task_cls="users_service.task_policy:ServiceTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
