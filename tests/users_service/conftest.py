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


@pytest.fixture
def healthy_parts(moto_server, redis_url, settings, monkeypatch) -> None:
    """Every part `/health/` checks answers: the suite's Redis as broker and cache, queues of this
    test's own on the moto server. Beat and worker checks are off: a test turns them on."""
    import uuid

    from events.aws import AwsSettings, client
    from events.topology import TopologyNames

    suffix = uuid.uuid4().hex[:8]
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    monkeypatch.setenv("EVENTS_QUEUE_NAME", f"health-{suffix}")
    monkeypatch.setenv("EVENTS_DLQ_NAME", f"health-{suffix}-dlq")
    names = TopologyNames.from_env()
    sqs = client("sqs", AwsSettings.from_env())
    for queue in (names.queue, names.dlq):
        sqs.create_queue(QueueName=queue)
    settings.CELERY_BROKER_URL = redis_url
    settings.CACHE_REDIS_URL = redis_url
    settings.REPORTS_BEAT_LOCK_URL = redis_url
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 0
    settings.HEALTH_CHECK_WORKERS = False


@pytest.fixture
def worker_env(redis_url, tmp_path) -> dict:
    """The environment of a real worker process: its own SQLite database (migrated), the suite's Redis."""
    import os

    from tests.users_service.migrated import migrated_database

    env = dict(os.environ)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(
        VAR_DIR=str(tmp_path),
        CELERY_BROKER_URL=redis_url,
        CELERY_RETRY_BACKOFF_BASE="0.2",
        CELERY_TASK_MAX_RETRIES="2",
        PYTHONUNBUFFERED="1",
    )
    env.pop("USERS_DATABASE_URL", None)
    migrated_database(env)
    return env
