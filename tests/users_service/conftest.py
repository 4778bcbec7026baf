"""Fixtures of the users service's tests: an API client, and Celery/metrics on the suite's Redis."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient


@pytest.fixture
def api_client(db) -> APIClient:
    account = get_user_model().objects.create_user("reader", password="x")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=account).key}")
    return client


@pytest.fixture(autouse=True)
def _redis_roles_on_suite_redis(redis_url, settings) -> None:
    """The cache goes to the suite's Redis, never to one that happens to run on 6379."""
    from users_service.authentication import forget_tokens

    # Nothing a previous test authenticated crosses into this one.
    forget_tokens()
    # The cache holds DRF's throttle counters: a clean one per test (redis_url is flushed).
    settings.CACHES = {"default": settings.CACHES["default"] | {"LOCATION": redis_url}}


@pytest.fixture
def point_celery() -> Iterator[Callable[[str], None]]:
    """A function that points the users service's Celery app at a broker URL; restored afterwards."""
    from users_service.celery import app

    def use(url: str) -> None:
        app.conf.broker_url = url
        # The app caches its connection and producer pools per broker: drop them.
        app._pool = None
        app.amqp._producer_pool = None

    previous = app.conf.broker_url
    yield use
    use(previous)


@pytest.fixture
def celery_broker(redis_url, point_celery) -> str:
    """The users service's Celery app on the suite's Redis; returns the broker URL."""
    point_celery(redis_url)
    return redis_url
