"""`/health/` checks real parts: 200 when all answer, 503 naming the part that does not."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.test import Client

from devstack.processes import free_port
from events.aws import AwsSettings, client
from events.topology import TopologyNames

pytestmark = pytest.mark.django_db


@pytest.fixture
def healthy_parts(moto_server, redis_url, settings, monkeypatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    client("sqs", AwsSettings.from_env()).create_queue(QueueName=TopologyNames.from_env().queue)
    settings.CELERY_BROKER_URL = redis_url
    settings.CACHE_REDIS_URL = redis_url


def dead_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield sock.getsockname()[1]


def test_all_parts_answer_without_a_login(healthy_parts):
    response = Client().get("/health/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["status"], body["failing"]) == ("ok", [])
    assert body["checks"] == {"database": "ok", "broker": "ok", "cache": "ok", "sqs": "ok"}
    # Informative, not checks: what the bridges and the caches last counted.
    assert isinstance(body["bridge"], dict)
    assert isinstance(body["caches"], dict)


def test_dead_broker_is_a_503_naming_it(healthy_parts, settings):
    settings.CELERY_BROKER_URL = dead_url()
    response = Client().get("/health/")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["broker"]
    assert body["checks"]["broker"].startswith("error: ConnectionError")
    assert body["checks"]["cache"] == "ok"


def test_cache_that_never_answers_is_a_503_naming_it(healthy_parts, settings, black_hole):
    settings.CACHE_REDIS_URL = f"redis://127.0.0.1:{black_hole}/0"
    response = Client().get("/health/")
    assert response.status_code == 503
    assert response.json()["failing"] == ["cache"]


def test_dead_sqs_is_a_503_naming_it(healthy_parts, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    response = Client().get("/health/")
    assert response.status_code == 503
    assert response.json()["failing"] == ["sqs"]


def test_missing_queue_is_a_503(healthy_parts, monkeypatch):
    monkeypatch.setenv("EVENTS_QUEUE_NAME", "no-such-queue")
    response = Client().get("/health/")
    assert response.status_code == 503
    assert response.json()["failing"] == ["sqs"]
