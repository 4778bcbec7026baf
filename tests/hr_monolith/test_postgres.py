"""What only PostgreSQL can show: row locks keep a user's versions gapless under concurrent
updates, and SKIP LOCKED lets two relays share one backlog without publishing a row twice."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import psycopg
import pytest
from django.db import connection

from events.publisher import SnsPublisher
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.people import services
from tests.conftest import receive_all
from tests.hr_monolith.sns_clients import RecordingSns
from tests.hr_monolith.test_relay import make_users

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6
UPDATES_PER_THREAD = 5


def run_threads(target, count: int) -> None:
    errors: list[BaseException] = []

    def wrapped(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors


def test_concurrent_updates_of_one_user_give_versions_1_to_n():
    user = services.user_create(email="race@example.com", first_name="R", last_name="Ace")
    start = threading.Barrier(THREADS)

    def update(index: int) -> None:
        start.wait(30)
        for round_ in range(UPDATES_PER_THREAD):
            services.user_update(user_id=user.id, data={"first_name": f"T{index}-{round_}"})

    run_threads(update, THREADS)

    last = 1 + THREADS * UPDATES_PER_THREAD
    rows = list(OutboxEvent.objects.filter(aggregate_id=str(user.id)).order_by("id"))
    # In id order, which is the relay's order, the versions are exactly 1..N.
    assert [row.aggregate_version for row in rows] == list(range(1, last + 1))
    user.refresh_from_db()
    assert user.version == last
    assert rows[-1].envelope["payload"]["first_name"] == user.first_name


class MeetingSns(RecordingSns):
    """Holds a relay's first publish call until the other relay has made its own, so both hold
    claimed rows at the same moment. With FOR UPDATE but no SKIP LOCKED the second relay would
    wait for the first one's locks and they would never meet."""

    def __init__(self, sns: Any, meeting: threading.Barrier) -> None:
        super().__init__(sns)
        self.meeting = meeting
        self.met = False

    def _prepare(self, request: dict) -> dict:
        with self._lock:
            first, self.met = not self.met, True
        if first:
            self.meeting.wait(20)
        return request


def test_two_relays_share_one_backlog_and_publish_each_row_once(sns, sqs, topology):
    make_users(200)
    meeting = threading.Barrier(2)
    clients = [MeetingSns(sns, meeting), MeetingSns(sns, meeting)]
    passes: list[list] = [[], []]

    def relay(index: int) -> None:
        relay = OutboxRelay(SnsPublisher(clients[index], topology.topic_arn), batch_size=20, max_in_flight=2)
        try:
            while (outcome := relay.relay_once()).claimed:
                passes[index].append(outcome)
        finally:
            relay.close()

    run_threads(relay, 2)

    accepted = clients[0].accepted + clients[1].accepted
    assert all(client.accepted for client in clients), "both relays should have published"
    assert not set(clients[0].accepted) & set(clients[1].accepted)
    rows = list(OutboxEvent.objects.all())
    assert len(rows) == 200
    assert accepted == Counter({str(row.event_id): 1 for row in rows})
    assert all(row.sent_at is not None and row.attempts == 1 for row in rows)
    delivered = receive_all(sqs, topology.queue_url, max_rounds=40)
    assert len(delivered) == 200


def test_devstack_gives_each_caller_a_fresh_database(postgres_database_url, postgres_provider):
    with psycopg.connect(postgres_database_url, autocommit=True) as conn:
        tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
        assert tables == 0
        conn.execute("CREATE TABLE scratch (id int)")
    other = postgres_provider.create_database("hr_events_fixture")
    try:
        assert other != postgres_database_url
    finally:
        postgres_provider.drop_database(other)
    with psycopg.connect(postgres_provider.admin_url) as conn:
        name = other.rsplit("/", 1)[1]
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None
