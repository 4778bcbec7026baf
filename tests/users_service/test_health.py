"""`/health/` checks real parts and the pipeline's figures: 200 when all pass, 503 naming what
fails; exception text only for staff. `/health/live/` depends on nothing."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone

from devstack.processes import free_port
from events.aws import AwsSettings, client
from events.bridge.stats import BridgeStats
from events.topology import TopologyNames
from tests.broker import StalledBroker, start_events_worker
from users_service import health
from users_service.bridge.models import HandOff
from users_service.bridge.stats_export import StatsExporter
from users_service.reports.scheduler import BEAT_LAST_TICK_KEY

pytestmark = pytest.mark.django_db

ALL_CHECKS = ["database", "broker", "cache", "sqs", "bridge_lag", "handoffs"]


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


@pytest.fixture
def staff_client() -> Client:
    staff = Client()
    staff.force_login(get_user_model().objects.create_user("ops", password="x", is_staff=True))
    return staff


@pytest.fixture
def ping_cache() -> Iterator[None]:
    health.PING.forget()
    yield
    health.PING.forget()


def get(path: str = "/health/", as_client: Client | None = None) -> tuple[int, dict]:
    response = (as_client or Client()).get(path)
    return response.status_code, response.json()


def test_all_parts_answer_without_a_login(healthy_parts):
    status, body = get()
    assert status == 200, body
    assert (body["status"], body["failing"]) == ("ok", [])
    assert body["checks"] == dict.fromkeys(ALL_CHECKS, "ok")
    assert (body["figures"]["queue_depth"], body["figures"]["dlq_depth"]) == (0, 0)
    # Informative, not checks: what the bridges and the caches counted.
    assert isinstance(body["bridge"], dict)
    assert isinstance(body["caches"], dict)


def test_dead_broker_is_a_503_naming_it_with_the_error_for_staff_only(healthy_parts, settings, staff_client):
    settings.CELERY_BROKER_URL = dead_url()

    status, body = get()
    assert status == 503
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"] == "error"  # no exception text (hosts, ports) for anyone
    assert body["checks"]["cache"] == "ok"

    status, body = get(as_client=staff_client)
    assert status == 503
    assert body["checks"]["broker"].startswith("error: ConnectionError")


def test_cache_that_never_answers_is_a_503_naming_it(healthy_parts, settings, black_hole):
    settings.CACHE_REDIS_URL = f"redis://127.0.0.1:{black_hole}/0"
    status, body = get()
    assert status == 503
    assert body["failing"] == ["cache"]


def test_dead_sqs_is_a_503_naming_it(healthy_parts, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    status, body = get()
    assert status == 503
    assert body["failing"] == ["sqs"]


def test_missing_queue_is_a_503(healthy_parts, monkeypatch):
    monkeypatch.setenv("EVENTS_QUEUE_NAME", "no-such-queue")
    status, body = get()
    assert status == 503
    assert body["failing"] == ["sqs"]


def test_a_dead_letter_past_the_threshold_is_a_503_saying_so(healthy_parts, settings):
    sqs, names = client("sqs", AwsSettings.from_env()), TopologyNames.from_env()
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName=names.dlq)["QueueUrl"], MessageBody="poison")

    status, body = get()
    assert status == 503
    assert body["failing"] == ["sqs"]
    # A threshold crossed is no secret: anyone sees which one.
    assert body["checks"]["sqs"] == "error: dlq_depth 1 > 0"
    assert body["figures"]["dlq_depth"] == 1

    settings.HEALTH_MAX_DLQ_DEPTH = 5
    assert get()[0] == 200


def test_a_deep_queue_is_a_503(healthy_parts, settings):
    sqs, names = client("sqs", AwsSettings.from_env()), TopologyNames.from_env()
    url = sqs.get_queue_url(QueueName=names.queue)["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": "{}"} for n in range(3)])
    settings.HEALTH_MAX_QUEUE_DEPTH = 2

    status, body = get()
    assert status == 503
    assert body["checks"]["sqs"] == "error: queue_depth 3 > 2"


@pytest.fixture
def bridge_lag() -> Iterator[BridgeStats]:
    """The bridge's lag as the bridge exports it; back to none at the end (the gauge is per process)."""
    stats = BridgeStats()
    yield stats
    stats.oldest_message_age_seconds = 0.0
    StatsExporter(stats, loops=0).export()


def test_a_bridge_behind_is_a_503(healthy_parts, settings, bridge_lag):
    bridge_lag.oldest_message_age_seconds = 400.0
    StatsExporter(bridge_lag, loops=1).export()

    status, body = get()
    assert status == 503
    assert body["failing"] == ["bridge_lag"]
    assert body["figures"]["oldest_message_age_seconds"] == 400.0

    settings.HEALTH_MAX_BRIDGE_LAG_SECONDS = 600
    assert get()[0] == 200


def test_a_parked_handoff_is_a_503_with_the_count(healthy_parts, settings):
    now = timezone.now()
    handed = {"event_type": "user.updated", "aggregate_id": "u1", "received_at": now, "handed_at": now}
    HandOff.objects.create(event_id=uuid.uuid4(), parked_at=now, parked_reason="ValueError", **handed)
    HandOff.objects.create(event_id=uuid.uuid4(), **handed)  # pending: the sweeper's, not an operator's

    status, body = get()
    assert status == 503
    assert body["failing"] == ["handoffs"]
    assert body["figures"]["handoffs_parked"] == 1

    settings.HEALTH_MAX_PARKED_HANDOFFS = 1
    assert get()[0] == 200


def test_beat_without_a_recent_tick_is_a_503(healthy_parts, settings, redis_url):
    settings.HEALTH_BEAT_MAX_AGE_SECONDS = 60
    stored = redis.Redis.from_url(settings.REPORTS_BEAT_LOCK_URL)
    stored.delete(BEAT_LAST_TICK_KEY)
    status, body = get()
    assert (status, body["failing"], body["checks"]["beat"]) == (
        503,
        ["beat"],
        "error: no beat tick recorded",
    )

    stored.set(BEAT_LAST_TICK_KEY, time.time() - 300)
    status, body = get()
    assert (status, body["failing"]) == (503, ["beat"])

    stored.set(BEAT_LAST_TICK_KEY, time.time())
    status, body = get()
    assert status == 200, body
    assert body["figures"]["beat_tick_age_seconds"] < 60


def test_the_beat_scheduler_records_its_ticks(healthy_parts, settings, celery_broker):
    from users_service.celery import app
    from users_service.reports.scheduler import GuardedDatabaseScheduler

    stored = redis.Redis.from_url(settings.REPORTS_BEAT_LOCK_URL)
    stored.delete(BEAT_LAST_TICK_KEY)
    scheduler = GuardedDatabaseScheduler(app=app)
    try:
        scheduler.tick()
    finally:
        scheduler.close()
    assert time.time() - float(stored.get(BEAT_LAST_TICK_KEY)) < 60


def test_no_worker_answering_a_ping_is_a_503(healthy_parts, settings, celery_broker, ping_cache):
    settings.HEALTH_CHECK_WORKERS = True
    settings.HEALTH_PING_TIMEOUT = 0.2
    status, body = get()
    assert (status, body["failing"]) == (503, ["workers"])
    assert body["checks"]["workers"] == "error: no worker answered a ping"


def test_a_broker_that_stops_answering_fails_the_ping_instead_of_hanging_the_probe(
    healthy_parts, settings, point_celery, ping_cache
):
    broker = StalledBroker()
    point_celery(broker.url)
    settings.HEALTH_CHECK_WORKERS = True
    settings.HEALTH_PING_TIMEOUT = 0.5
    answers: list[tuple[int, dict]] = []
    probe = threading.Thread(target=lambda: answers.append(get()), daemon=True)
    try:
        probe.start()
        probe.join(timeout=30)  # the ping gives up after 0.5 s; 30 s only ends a hung test
        assert not probe.is_alive(), "/health/ hung on a broker that stopped answering"
    finally:
        broker.close()
    status, body = answers[0]
    assert (status, body["failing"]) == (503, ["workers"])
    assert body["checks"]["workers"] == "error"  # the broker's error itself is shown to staff only


@pytest.mark.e2e
def test_a_running_worker_answers_the_ping(
    healthy_parts,
    settings,
    celery_broker,
    ping_cache,
    worker_env,
    tmp_path,
):
    settings.HEALTH_CHECK_WORKERS = True
    settings.HEALTH_PING_TIMEOUT = 1.0
    worker = start_events_worker("health-worker", worker_env, tmp_path / "log")
    try:
        status, body = get()
    finally:
        worker.stop()
    assert status == 200, body
    assert body["figures"]["workers"] == 1


def test_live_needs_no_dependency(settings, monkeypatch):
    settings.CELERY_BROKER_URL = dead_url()
    settings.CACHE_REDIS_URL = dead_url()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    assert get("/health/live/") == (200, {"status": "ok"})
