"""The users database unreachable while events are applied: no event is lost (docs/delivery.md).

Real processes on a PostgreSQL database of the test's own: `run_bridge` hands the events over
and records them, then the database stops accepting connections (every session cut, new ones
refused: what a stopped server looks like to a client). The events worker spends its shortened
retries on the outage and cannot write a FailedTask either, so each task is dropped by the
broker. When the database is back, the bridge's sweeper finds the hand-offs not applied and
publishes them again; the worker applies each event exactly once.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest
import redis
from psycopg import sql

from devstack.processes import ManagedProcess, wait_until
from devstack.stack import BASE_DIR, MANAGE
from events import types
from events.aws import AwsSettings, client
from tests.events.bridge.helpers import queue_depth
from tests.samples import sns_notification
from tests.users_service.bridge.processes import bridge_env, start_bridge, topology_for
from tests.users_service.events import new_user_id, user_state_event
from users_service.queues import EVENTS

pytestmark = pytest.mark.postgres

EVENT_COUNT = 4


def count(url: str, query: str) -> int:
    with psycopg.connect(url, connect_timeout=5) as connection:
        return connection.execute(query).fetchone()[0]


def set_reachable(admin_url: str, database: str, reachable: bool) -> None:
    """Refuse (or accept again) every connection to `database`, cutting the ones open."""
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS {}").format(
                sql.Identifier(database), sql.SQL("true" if reachable else "false")
            )
        )
        if not reachable:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (database,)
            )


@pytest.mark.e2e
def test_events_survive_the_database_going_away_during_apply(
    moto_server, redis_url, postgres_provider, postgres_database_url, tmp_path
):
    database = postgres_database_url.rsplit("/", 1)[1]
    env = bridge_env(
        aws_endpoint=moto_server.url,
        broker_url=redis_url,
        tmp_path=tmp_path,
        USERS_DATABASE_URL=postgres_database_url,
        METRICS_REDIS_URL=redis_url,
        HANDOFF_GRACE_SECONDS="3",
        HANDOFF_SWEEP_SECONDS="0.5",
        CELERY_TASK_MAX_RETRIES="2",
        CELERY_RETRY_BACKOFF_BASE="0.2",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    top = topology_for(env)
    sqs = client("sqs", AwsSettings.from_env(env))
    events = [user_state_event(new_user_id(), 1, types.USER_UPDATED) for _ in range(EVENT_COUNT)]
    for event in events:
        sqs.send_message(
            QueueUrl=top.queue_url, MessageBody=sns_notification(top.topic_arn, json.dumps(event))
        )
    broker = redis.Redis.from_url(redis_url)

    bridge = start_bridge(env, tmp_path)
    worker = None
    try:
        wait_until(
            lambda: (
                count(postgres_database_url, "SELECT count(*) FROM bridge_handoff") == EVENT_COUNT
                and queue_depth(sqs, top.queue_url) == 0
            ),
            timeout=60,
            what=f"hand-offs recorded and deleted from SQS\n{bridge.log_tail()}",
        )
        set_reachable(postgres_provider.admin_url, database, False)
        worker = ManagedProcess(
            "worker",
            [*MANAGE, "users", "run_worker", EVENTS.queue],
            log_dir=tmp_path / "log",
            env=env,
            cwd=BASE_DIR,
        ).start()
        # Every task spends its retries on the outage and fails; neither its result nor a FailedTask
        # can be written, and the broker drops it (acked on failure): it holds nothing of these
        # events any more, neither queued nor unacked.
        wait_until(
            lambda: (
                broker.llen(EVENTS.queue) == 0
                and broker.hlen(EVENTS.transport_options()["unacked_key"]) == 0
                and worker.log_path.read_text().count("retry 2 in") >= EVENT_COUNT
            ),
            timeout=180,
            what="tasks failed during the outage",
            interval=0.5,
        )
        assert "is not currently accepting connections" in worker.log_path.read_text()
        assert count(postgres_provider.admin_url, "SELECT 1") == 1

        set_reachable(postgres_provider.admin_url, database, True)
        wait_until(
            lambda: (
                count(postgres_database_url, "SELECT count(*) FROM bridge_handoff WHERE applied_at IS NULL")
                == 0
            ),
            timeout=120,
            what=f"re-published and applied\n{bridge.log_tail()}\n{worker.log_tail()}",
            interval=0.5,
        )
    finally:
        set_reachable(postgres_provider.admin_url, database, True)
        if worker is not None:
            print(worker.log_tail(200))  # shown when the test fails
            worker.stop()
        bridge.stop()

    assert "published again" in bridge.log_path.read_text()
    assert count(postgres_database_url, "SELECT count(*) FROM directory_userrecord") == EVENT_COUNT
    assert count(postgres_database_url, "SELECT count(*) FROM directory_inboxentry") == EVENT_COUNT
    assert (
        count(postgres_database_url, "SELECT count(DISTINCT event_id) FROM directory_inboxentry")
        == EVENT_COUNT
    )
    assert (
        count(postgres_database_url, "SELECT count(*) FROM bridge_handoff WHERE attempts >= 1") == EVENT_COUNT
    )
    assert os.path.exists(worker.log_path)
