"""The users service: a read model of users fed by events, cached lookups, reports."""

from users_service.celery import app as celery_app

__all__ = ("celery_app",)
