"""Every Redis role of the users service (broker, cache, beat lock) on a Redis that
requires a password, and on one that speaks only TLS: each works with the URL the settings build,
and fails clearly (an authentication or certificate error, never a silent success) without it."""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.core.cache import cache
from kombu import Connection

from devstack.processes import free_port
from devstack.redis import RedisServer, TlsFiles
from events.bridge import TaskMessage
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.errors import TransientError
from shared_settings.env import Env
from tests.users_service.cache.conftest import use_cache
from tests.users_service.cache.support import counted, counter, start_counting
from users_service import cache_keys
from users_service.ops import metrics
from users_service.read_through import CachePolicy, read_through

#: What Redis answers a client without the password: NOAUTH (RESP2) or refusing HELLO (RESP3).
AUTHENTICATION = r"Authentication required|HELLO must be called with the client already authenticated"


@pytest.fixture(scope="module")
def password_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(
        free_port(), tmp_path_factory.mktemp("password-redis"), password=secrets.token_urlsafe(16)
    ).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    workdir = tmp_path_factory.mktemp("tls-redis")
    tls = TlsFiles.self_signed(workdir / "tls")
    server = RedisServer(free_port(), workdir, password=secrets.token_urlsafe(16), tls=tls).start()
    yield server
    server.stop()


@pytest.fixture(params=["password", "tls"])
def secured(request: pytest.FixtureRequest) -> RedisServer:
    server = request.getfixturevalue(f"{request.param}_redis")
    redis.Redis.from_url(server.database_url(0)).flushall()
    return server


def setting(name: str, url: str) -> str:
    """`url` as the settings read it from the environment variable `name`."""
    env = Env()
    env.ENVIRON = {name: url}
    return env.redis_url(name, default="")


def without_password(server: RedisServer, db: int) -> str:
    return server.database_url(db).replace(f":{server.password}@", "", 1)


def test_the_broker_takes_and_hands_out_tasks_with_the_password(secured, point_celery):
    from users_service.celery import app

    url = setting("CELERY_BROKER_URL", secured.database_url(0))
    point_celery(url)
    publisher = CeleryTaskPublisher(app)
    task_id = f"{uuid.uuid4()}:directory.apply_user_event"
    try:
        publisher.publish([TaskMessage(task_id, "directory.apply_user_event", "events", {"event_id": "e1"})])
    finally:
        publisher.close()
    with Connection(url) as connection:
        queue = connection.SimpleQueue("events")
        message = queue.get(timeout=5)
        assert message.headers["id"] == task_id
        assert message.content_type == "application/json"
        message.ack()
        queue.close()


def test_the_broker_refuses_a_publish_without_the_password(secured, point_celery):
    from users_service.celery import app

    point_celery(setting("CELERY_BROKER_URL", without_password(secured, 0)))
    publisher = CeleryTaskPublisher(app)
    try:
        with pytest.raises(TransientError, match=AUTHENTICATION):
            publisher.publish([TaskMessage("t:1", "directory.apply_user_event", "events", {})])
    finally:
        publisher.close()


def test_the_cache_fills_and_hits_with_the_password(secured, settings):
    start_counting()
    use_cache(settings, setting("CACHE_REDIS_URL", secured.database_url(1)))
    policy, key = CachePolicy("resources", 60), cache_keys.resources(uuid.uuid4())

    first = read_through(policy=policy, key=key, fetch=lambda: b'{"resources": []}')
    second = read_through(policy=policy, key=key, fetch=lambda: pytest.fail("not cached"))

    assert (first.cache_status, second.cache_status, second.value) == ("miss", "hit", b'{"resources": []}')
    assert metrics.cache_summary(counted())["resources"]["errors"] == 0


def test_the_cache_without_the_password_fails_clearly_and_requests_fall_through(secured, settings):
    start_counting()
    use_cache(settings, setting("CACHE_REDIS_URL", without_password(secured, 1)))
    with pytest.raises(Exception, match=AUTHENTICATION):
        cache.get("anything")
    policy = CachePolicy("resources", 60)
    lookup = read_through(policy=policy, key=cache_keys.resources(uuid.uuid4()), fetch=lambda: b"[]")
    assert (lookup.value, lookup.cache_status) == (b"[]", "miss")
    assert counter("cache_errors_total", "resources", op="get") == 1


def test_the_beat_lock_is_taken_with_the_password(secured, settings, db, caplog):
    from users_service.celery import app
    from users_service.reports.scheduler import GuardedDatabaseScheduler

    settings.REPORTS_BEAT_LOCK_URL = setting("REPORTS_BEAT_LOCK_URL", secured.database_url(3))
    first = GuardedDatabaseScheduler(app=app, lazy=True)
    second = GuardedDatabaseScheduler(app=app, lazy=True)
    assert first._holds_lock()
    assert not second._holds_lock()

    settings.REPORTS_BEAT_LOCK_URL = setting("REPORTS_BEAT_LOCK_URL", without_password(secured, 3))
    assert not GuardedDatabaseScheduler(app=app, lazy=True)._holds_lock()
    assert re.search(AUTHENTICATION, caplog.text)


def test_tls_verifies_the_servers_certificate_unless_told_otherwise(tls_redis, tmp_path: Path):
    """The settings add ssl_cert_reqs=required to a rediss:// URL: kombu alone would not verify."""
    untrusted = f"{tls_redis.url}/0"  # no CA given: the self-signed certificate is not trusted
    assert "ssl_cert_reqs=required" in setting("CELERY_BROKER_URL", untrusted)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        redis.Redis.from_url(setting("CACHE_REDIS_URL", untrusted)).ping()
    with (
        pytest.raises(Exception, match="certificate verify failed"),
        Connection(setting("CELERY_BROKER_URL", untrusted), connect_timeout=2) as connection,
    ):
        connection.ensure_connection(max_retries=1)
    # What the settings prevent: kombu given the bare URL connects without checking anything.
    with Connection(untrusted, connect_timeout=2) as connection:
        connection.ensure_connection(max_retries=1)
