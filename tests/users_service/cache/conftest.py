"""Fixtures of the cache tests: the suite's Redis as the cache (or one a test can stop), counters
read from the start of the test, and the stand-in monolith."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devstack.processes import free_port
from devstack.redis import RedisServer
from tests.users_service.cache.support import TOKEN, FakeMonolith, start_counting
from users_service import read_through


def use_cache(settings, url: str) -> None:
    caches = {name: dict(config) for name, config in settings.CACHES.items()}
    caches["default"]["LOCATION"] = url
    settings.CACHES = caches  # Django drops its cache connections on this change
    read_through.cache_bypass_reset()


@pytest.fixture
def cache_metrics() -> None:
    """Counters read from here on are what this test added (`support.counter`, `support.counted`)."""
    start_counting()


@pytest.fixture
def cache_redis(redis_server: RedisServer, settings, cache_metrics) -> str:
    """The suite's Redis (a clean database) as the users service's cache."""
    url = f"{redis_server.url}/5"
    redis.Redis.from_url(url).flushdb()
    use_cache(settings, url)
    return url


@pytest.fixture
def stoppable_cache(tmp_path: Path, settings, cache_metrics) -> Iterator[RedisServer]:
    """A Redis of this test's own as the cache, so that the test can stop it."""
    server = RedisServer(free_port(), tmp_path / "cache-redis").start()
    use_cache(settings, f"{server.url}/0")
    yield server
    server.stop()


@pytest.fixture
def fake_monolith(settings) -> Iterator[FakeMonolith]:
    monolith = FakeMonolith().start()
    settings.MONOLITH_URL = monolith.url
    settings.MONOLITH_API_TOKEN = TOKEN
    yield monolith
    monolith.stop()
