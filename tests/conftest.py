"""Shared fixtures: real Redis and moto servers started by the suite itself, on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.localstack import LocalStackServer
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

#: `moto` (default, `make test`) or `localstack` (`make test-localstack`): the SNS/SQS every test gets.
EMULATOR = os.environ.get("AWS_EMULATOR", "moto")
if EMULATOR not in ("moto", "localstack"):
    raise RuntimeError(f"AWS_EMULATOR must be moto or localstack, not {EMULATOR!r}")


def on_localstack(request: pytest.FixtureRequest) -> bool:
    return EMULATOR == "localstack" or request.node.get_closest_marker("localstack") is not None


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


@pytest.fixture(scope="session")
def localstack_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStackServer]:
    """LocalStack (SNS and SQS only) natively on a free port; installs it if missing, or fails."""
    server = LocalStackServer(free_port(), log_dir=tmp_path_factory.mktemp("localstack")).start()
    yield server
    server.stop()


def emulator_server_url(request: pytest.FixtureRequest) -> str:
    """Endpoint of the SNS/SQS server (moto server or LocalStack) for the scope of `request`."""
    name = "localstack_server" if on_localstack(request) else "moto_server"
    return request.getfixturevalue(name).url


@pytest.fixture(scope="module")
def emulator_url(request: pytest.FixtureRequest) -> str:
    """Endpoint of the SNS/SQS server for tests that run real processes (moto server or LocalStack)."""
    return emulator_server_url(request)


@pytest.fixture
def aws(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsSettings]:
    """In-process moto (`mock_aws`): the fastest real SNS/SQS semantics for a test.

    On LocalStack (AWS_EMULATOR=localstack or the `localstack` marker) the same tests run against
    the emulator users deploy against; each test starts from an empty account there too."""
    if on_localstack(request):
        server: LocalStackServer = request.getfixturevalue("localstack_server")
        monkeypatch.setenv("AWS_ENDPOINT_URL", server.url)
        settings = AwsSettings(
            endpoint_url=server.url, region="us-east-1", access_key_id="testing", secret_access_key="testing"
        )
        yield settings
        empty_the_account(settings)
        return
    from moto import mock_aws

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield AwsSettings(region="us-east-1", access_key_id="testing", secret_access_key="testing")


def empty_the_account(settings: AwsSettings) -> None:
    """What mock_aws does on exit: forget every topic, subscription and queue."""
    sns, sqs = client("sns", settings), client("sqs", settings)
    for topic in sns.list_topics().get("Topics", []):
        sns.delete_topic(TopicArn=topic["TopicArn"])
    for url in sqs.list_queues().get("QueueUrls", []):
        sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def sns(aws: AwsSettings):
    return client("sns", aws)


@pytest.fixture
def sqs(aws: AwsSettings):
    sqs = client("sqs", aws)
    if aws.endpoint_url:
        # moto delivers SNS→SQS before publish returns; LocalStack (like AWS) delivers a moment
        # later, so a short poll right after publishing can miss the message. A 1 s long poll
        # returns as soon as a message is there, and only waits on an empty queue.
        sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", await_async_delivery)
    return sqs


def await_async_delivery(params: dict, **_: object) -> None:
    params["WaitTimeSeconds"] = max(params.get("WaitTimeSeconds", 0), 1)


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


@pytest.fixture
def spans():
    """OpenTelemetry on for the test (shared_settings/tracing.py), spans kept in memory."""
    from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from shared_settings import tracing

    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(exporter=exporter, force=True)
    yield exporter
    for instrumentor in (DjangoInstrumentor, CeleryInstrumentor, BotocoreInstrumentor, RedisInstrumentor):
        instrumentor().uninstrument()
    tracing._configured = False
