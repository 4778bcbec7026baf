"""Shared fixtures: real Redis and moto servers started by the suite itself, on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.moto import MotoServer
from devstack.processes import free_port
from devstack.redis import RedisServer
from events.aws import AwsSettings, client
from events.topology import Topology, TopologyNames, ensure_topology

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
for _name, _value in AWS_TEST_ENV.items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A Redis of the suite's own (never the developer's), on a free port."""
    server = RedisServer(free_port(), tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """A clean database of the suite's Redis for each test."""
    import redis

    url = f"{redis_server.url}/0"
    redis.Redis.from_url(url).flushdb()
    return url


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(free_port(), tmp_path_factory.mktemp("moto")).start()
    yield server
    server.stop()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsSettings]:
    """In-process moto (`mock_aws`): the fastest real SNS/SQS semantics for a test."""
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield AwsSettings(region="us-east-1", access_key_id="testing", secret_access_key="testing")


@pytest.fixture
def sns(aws: AwsSettings):
    return client("sns", aws)


@pytest.fixture
def sqs(aws: AwsSettings):
    return client("sqs", aws)


@pytest.fixture
def topology(sns, sqs) -> Topology:
    return ensure_topology(sns, sqs, TopologyNames(visibility_timeout=30, max_receive_count=3))


def receive_all(sqs, queue_url: str, *, max_rounds: int = 20) -> list[dict]:
    """Drain a queue (short polls) and return the messages, deleting them."""
    messages: list[dict] = []
    for _ in range(max_rounds):
        batch = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            break
        messages.extend(batch)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    return messages


@pytest.fixture(scope="session")
def postgres_provider():
    """A PostgreSQL to create databases on: the one `PG_ADMIN_URL` (or 127.0.0.1:5432) names if it
    answers, else a throw-away cluster of the suite's own (devstack/postgres.py)."""
    from devstack.postgres import PostgresProvider

    provider = PostgresProvider.find_or_start()
    yield provider
    provider.close()


@pytest.fixture
def postgres_database_url(postgres_provider) -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped after it."""
    with postgres_provider.database("hr_events_fixture") as url:
        yield url


@pytest.fixture
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
