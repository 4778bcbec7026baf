"""SNS goes away in the middle of a backlog (the moto server is stopped, then started again on
the same port): the relay backs off, marks nothing it could not publish, and resumes by itself."""

from __future__ import annotations

import json
import threading

import pytest

from devstack.moto import MotoServer
from devstack.processes import free_port, wait_until
from events.aws import AwsSettings, client
from events.backoff import Backoff
from events.publisher import SnsPublisher
from events.topology import TopologyNames, ensure_topology
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from tests.conftest import receive_all
from tests.hr_monolith.sns_clients import RecordingSns
from tests.hr_monolith.test_relay import make_users

pytestmark = pytest.mark.django_db

BACKLOG = 300
NAMES = TopologyNames(topic="outage-events", queue="outage-queue", dlq="outage-dlq", visibility_timeout=30)


def topology_on(server: MotoServer):
    aws = AwsSettings(
        endpoint_url=server.url,
        access_key_id="testing",
        secret_access_key="testing",
        connect_timeout=1,
        read_timeout=5,
        max_attempts=1,
    )
    sns, sqs = client("sns", aws), client("sqs", aws)
    return sns, sqs, ensure_topology(sns, sqs, NAMES)


def test_relay_survives_sns_going_away_and_coming_back(tmp_path):
    make_users(BACKLOG)
    port = free_port()
    server = MotoServer(port, tmp_path).start()
    sns, _sqs, topology = topology_on(server)
    recorder = RecordingSns(sns)
    relay = OutboxRelay(
        SnsPublisher(recorder, topology.topic_arn),
        batch_size=10,
        max_in_flight=2,
        backoff=Backoff(base=0.05, cap=0.4),
    )
    stop = threading.Event()
    seen: dict[str, object] = {}
    problems: list[BaseException] = []

    def outage() -> None:
        nonlocal server
        try:
            wait_until(lambda: sum(recorder.accepted.values()) >= 20, timeout=30, what="first 20 published")
            server.stop()
            wait_until(lambda: recorder.call_errors >= 4, timeout=30, what="failed calls while SNS is down")
            # A restarted moto has lost its topic, queue and subscription, which AWS would have
            # kept: hold publish calls while they are rebuilt, or events published between
            # create_topic and subscribe would go to a topic without subscribers.
            recorder.gate.clear()
            seen["accepted_before_restart"] = set(recorder.accepted)
            server = MotoServer(port, tmp_path).start()
            _, sqs_again, topology_again = topology_on(server)
            recorder.gate.set()
            wait_until(lambda: sum(recorder.accepted.values()) >= BACKLOG, timeout=60, what="the backlog")
            seen["after"] = receive_all(sqs_again, topology_again.queue_url, max_rounds=BACKLOG // 10 + 10)
        except BaseException as exc:
            problems.append(exc)
        finally:
            recorder.gate.set()
            stop.set()

    control = threading.Thread(target=outage)
    control.start()
    try:
        relay.run(stop, poll_interval=0.05)
    finally:
        control.join(90)
        relay.close()
        server.stop()
    assert not problems, problems

    rows = list(OutboxEvent.objects.all())
    assert all(row.sent_at is not None for row in rows)
    # Marked sent exactly when SNS said Successful, and each accepted once: nothing lost or doubled.
    assert {str(r.event_id) for r in rows} == set(recorder.accepted)
    assert set(recorder.accepted.values()) == {1}
    # The rows in hand when SNS vanished were retried and keep the connection error.
    retried = [row for row in rows if row.attempts > 1]
    assert retried
    assert all("Connect" in row.last_error or "NotFound" in row.last_error for row in retried)
    assert relay.backoff_delays
    assert all(0 <= delay <= 0.4 for delay in relay.backoff_delays)
    # Publishing resumed by itself once SNS was back, and every event published after the restart
    # reached the (new) queue. What moto held before it was stopped died with it.
    before = seen["accepted_before_restart"]
    assert 20 <= len(before) < BACKLOG
    after = [json.loads(json.loads(m["Body"])["Message"])["event_id"] for m in seen["after"]]
    assert sorted(after) == sorted(set(recorder.accepted) - before)
    assert len(before) + len(after) == BACKLOG
