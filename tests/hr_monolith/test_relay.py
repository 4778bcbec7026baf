"""The outbox relay publishes pending rows to SNS (moto) and marks only what SNS accepted."""

from __future__ import annotations

import datetime
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models.sql.compiler import SQLCompiler

from events.envelope import Envelope
from events.publisher import SnsPublisher
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.people import services
from tests.conftest import receive_all
from tests.hr_monolith.sns_clients import RefusingSns

pytestmark = pytest.mark.django_db


def make_users(count: int) -> list:
    return [
        services.user_create(email=f"u{i}@example.com", first_name="U", last_name=str(i))
        for i in range(count)
    ]


def test_relay_publishes_every_pending_row_once_and_marks_it_sent(sns, sqs, topology):
    users = make_users(23)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=100)
    try:
        outcome = relay.relay_once()
        assert (outcome.claimed, outcome.published, outcome.failed) == (23, 23, 0)
        assert relay.relay_once().claimed == 0
    finally:
        relay.close()

    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert set(OutboxEvent.objects.values_list("attempts", flat=True)) == {1}
    delivered = [json.loads(json.loads(m["Body"])["Message"]) for m in receive_all(sqs, topology.queue_url)]
    assert sorted(e["aggregate_id"] for e in delivered) == sorted(str(u.id) for u in users)
    assert {e["event_type"] for e in delivered} == {"user.created"}


def test_refused_publish_leaves_rows_pending_with_the_error(sns, topology):
    make_users(3)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn + "-missing"))
    try:
        outcome = relay.relay_once()
    finally:
        relay.close()
    assert (outcome.published, outcome.failed) == (0, 3)
    rows = OutboxEvent.objects.all()
    assert all(row.sent_at is None and row.attempts == 1 and row.last_error for row in rows)


def test_relay_outbox_once_command(sns, sqs, topology):
    make_users(4)
    out = io.StringIO()
    call_command("relay_outbox", "--once", stdout=out)
    assert "published 4 events" in out.getvalue()
    assert len(receive_all(sqs, topology.queue_url)) == 4


def delivered_event_ids(sqs, queue_url: str) -> list[str]:
    return [json.loads(json.loads(m["Body"])["Message"])["event_id"] for m in receive_all(sqs, queue_url)]


@pytest.mark.moto_only
def test_refused_entries_are_retried_alone_and_the_rest_is_not_republished(sns, sqs, topology):
    make_users(25)
    rows = list(OutboxEvent.objects.order_by("id"))
    refused = {str(rows[3].event_id), str(rows[17].event_id)}
    client = RefusingSns(sns, refused, times=1)
    relay = OutboxRelay(SnsPublisher(client, topology.topic_arn), batch_size=100, max_in_flight=3)
    try:
        outcome = relay.relay_once()
    finally:
        relay.close()

    assert (outcome.claimed, outcome.published, outcome.failed) == (25, 25, 0)
    # Three calls of up to 10, then one retry holding only the two refused entries.
    assert sorted(len(call) for call in client.calls[:3]) == [5, 10, 10]
    assert [sorted(call) for call in client.calls[3:]] == [sorted(refused)]
    assert all(count == 1 for count in client.accepted.values())
    delivered = delivered_event_ids(sqs, topology.queue_url)
    assert sorted(delivered) == sorted(str(r.event_id) for r in rows)
    for row in OutboxEvent.objects.all():
        assert row.sent_at is not None
        if str(row.event_id) in refused:
            assert row.attempts == 2
            assert "MessageStructure" in row.last_error
        else:
            assert (row.attempts, row.last_error) == (1, "")


@pytest.mark.moto_only
def test_an_entry_sns_keeps_refusing_stays_pending_with_its_error(sns, sqs, topology):
    make_users(4)
    stuck = OutboxEvent.objects.order_by("id")[1]
    client = RefusingSns(sns, {str(stuck.event_id)}, times=100)
    relay = OutboxRelay(SnsPublisher(client, topology.topic_arn), entry_retries=2)
    try:
        outcome = relay.relay_once()
    finally:
        relay.close()
    assert (outcome.published, outcome.failed) == (3, 1)
    stuck.refresh_from_db()
    assert stuck.sent_at is None
    assert stuck.attempts == 3
    assert "InvalidParameter" in stuck.last_error
    assert str(stuck.event_id) not in delivered_event_ids(sqs, topology.queue_url)
    assert OutboxEvent.objects.filter(sent_at__isnull=False).count() == 3


def test_rows_are_claimed_in_id_order(sns, topology):
    make_users(12)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=5)
    try:
        relay.relay_once()
    finally:
        relay.close()
    ids = list(OutboxEvent.objects.order_by("id").values_list("id", "sent_at"))
    assert [sent is not None for _, sent in ids] == [True] * 5 + [False] * 7


def test_a_pass_encodes_each_envelope_once_and_validates_none(sns, sqs, topology, monkeypatch):
    # The rows were validated when written: the relay sizes the batch and publishes on one encoding.
    make_users(12)
    encoded: list[str] = []
    encode = Envelope.to_json
    monkeypatch.setattr(Envelope, "to_json", lambda self: encoded.append(self.event_id) or encode(self))
    monkeypatch.setattr("events.envelope.validate_envelope", lambda data: pytest.fail("validated again"))
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=100)
    try:
        assert relay.relay_once().published == 12
    finally:
        relay.close()
    assert sorted(encoded) == sorted(str(e) for e in OutboxEvent.objects.values_list("event_id", flat=True))
    assert len(set(delivered_event_ids(sqs, topology.queue_url))) == 12


def test_passes_compile_the_claim_once_and_mark_without_the_orm(sns, topology, monkeypatch):
    compiled: list[str] = []
    as_sql = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        # Every compiler (select, update, insert: each backend has its own classes) derives from it.
        if self.query.model is OutboxEvent:
            compiled.append(type(self).__name__)
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=5)
    try:
        for round_ in range(3):
            for i in range(2):
                services.user_create(email=f"r{round_}-{i}@example.com", first_name="U", last_name="R")
            assert relay.relay_once().published == 2
        assert relay.relay_once().claimed == 0
    finally:
        relay.close()
    assert compiled == ["SQLCompiler"]
    assert OutboxEvent.objects.filter(sent_at__isnull=False, attempts=1).count() == 6


def test_relay_outbox_once_publishes_a_backlog_larger_than_one_batch(sns, sqs, topology):
    make_users(23)
    out = io.StringIO()
    call_command("relay_outbox", "--once", "--batch-size", "10", stdout=out)
    assert "published 23 events" in out.getvalue()
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()
    assert len(set(delivered_event_ids(sqs, topology.queue_url))) == 23


def test_relay_outbox_once_fails_loudly_when_sns_refuses(sns, topology, monkeypatch):
    make_users(2)
    # The command creates its topic; delete it between creation and publishing, so SNS
    # refuses every call with NotFound.
    from hr_monolith.outbox.management.commands import relay_outbox

    real = relay_outbox.SnsPublisher

    def publisher(client, arn):
        client.delete_topic(TopicArn=arn)
        return real(client, arn)

    monkeypatch.setattr(relay_outbox, "SnsPublisher", publisher)
    with pytest.raises(CommandError, match="2 events could not be published"):
        call_command("relay_outbox", "--once", stdout=io.StringIO())
    assert OutboxEvent.objects.filter(sent_at__isnull=True, attempts=1).count() == 2
    assert all("NotFound" in e for e in OutboxEvent.objects.values_list("last_error", flat=True))


class _StopAtFirstWait:
    """A stop flag for `OutboxRelay.run` that records each wait and stops the loop at the first."""

    def __init__(self) -> None:
        self.waits: list[float] = []
        self._set = False
        #: Waits before the loop is stopped (1: at the first).
        self.stop_after = 1

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        self._set = len(self.waits) >= self.stop_after
        return self._set


def test_run_claims_again_at_once_after_a_pass_that_found_rows(sns, sqs, topology):
    make_users(3)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=100)
    passes = []
    relay_once = relay.relay_once
    relay.relay_once = lambda: passes.append(relay_once()) or passes[-1]
    stop = _StopAtFirstWait()
    try:
        relay.run(stop, poll_interval=0.2)
    finally:
        relay.close()
    # The partial pass (3 of 100) is followed by another pass, not by a sleep; only the empty one sleeps.
    assert [p.claimed for p in passes] == [3, 0]
    assert stop.waits == [0.2]
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


def test_a_database_error_in_a_pass_is_waited_out_not_fatal(sns, sqs, topology):
    """SQLite's "database is locked", a PostgreSQL failover: the relay backs off and goes on."""
    from django.db import OperationalError

    make_users(2)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), batch_size=100)
    relay_once = relay.relay_once
    calls = []

    def first_pass_fails():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database is locked")
        return relay_once()

    relay.relay_once = first_pass_fails
    stop = _StopAtFirstWait()
    stop.stop_after = 2
    try:
        relay.run(stop, poll_interval=0.2)
    finally:
        relay.close()
    assert len(stop.waits) == 2
    assert stop.waits[0] > 0  # the backoff after the error, before the pass that sends
    assert not OutboxEvent.objects.filter(sent_at__isnull=True).exists()


class FakeClock:
    """The relay's clock, moved by the test: a refused row's backoff passes without waiting."""

    def __init__(self) -> None:
        from django.utils import timezone

        self.now = timezone.now()

    def __call__(self):
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.mark.moto_only
def test_rows_sns_always_refuses_are_parked_and_the_rest_flows(sns, sqs, topology, caplog):
    make_users(60)
    rows = list(OutboxEvent.objects.order_by("id"))
    # A whole first claim of refused rows, and two more among the good ones.
    bad = {str(row.event_id) for row in [*rows[:20], rows[35], rows[50]]}
    client = RefusingSns(sns, bad, times=10**6)
    clock, sleeps = FakeClock(), []
    relay = OutboxRelay(
        SnsPublisher(client, topology.topic_arn),
        batch_size=20,
        entry_retries=1,
        max_attempts=4,
        clock=clock,
        sleep=sleeps.append,
    )
    passes = []
    try:
        for _ in range(3):
            passes.append(relay.relay_once())
        # Three passes publish every good row: the refused ones wait out their own backoff.
        assert [p.published for p in passes] == [0, 19, 19]
        assert OutboxEvent.objects.sent().count() == 38
        for _ in range(10):
            outcome = relay.relay_once()
            passes.append(outcome)
            if not outcome.claimed:
                if not OutboxEvent.objects.pending().exists():
                    break
                clock.advance(relay.backoff.cap)  # time the relay would spend idling
    finally:
        relay.close()

    good = {str(row.event_id) for row in rows} - bad
    assert set(client.accepted) == good
    assert set(client.accepted.values()) == {1}
    assert sorted(delivered_event_ids(sqs, topology.queue_url)) == sorted(good)
    # Each bad row was refused four times (two passes of two tries), then parked with the reason.
    failed = list(OutboxEvent.objects.failed())
    assert {str(row.event_id) for row in failed} == bad
    for row in failed:
        assert (row.refusals, row.attempts, row.sent_at) == (4, 4, None)
        assert row.failed_at is not None
        assert "InvalidParameter" in row.last_error
    assert not OutboxEvent.objects.pending().exists()
    # A handful of passes, none of them after a sleep of the whole relay; in-pass retries only.
    assert sum(1 for p in passes if p.claimed) == 5
    assert sum(p.parked for p in passes) == 22
    assert not relay.backoff_delays
    assert len(sleeps) == sum(1 for p in passes if p.failed)
    assert "22 rows failed in all" in caplog.text


@pytest.mark.moto_only
def test_a_refused_entry_does_not_make_the_run_loop_back_off(sns, topology):
    make_users(3)
    stuck = OutboxEvent.objects.order_by("id")[0]
    client = RefusingSns(sns, {str(stuck.event_id)}, times=10**6)
    relay = OutboxRelay(SnsPublisher(client, topology.topic_arn), sleep=lambda _: None)
    stop = _StopAtFirstWait()
    try:
        relay.run(stop, poll_interval=0.2)
    finally:
        relay.close()
    # Pass 1 published two and refused one (due later); pass 2 found nothing due and polled.
    assert stop.waits == [0.2]
    assert not relay.backoff_delays
    stuck.refresh_from_db()
    assert (stuck.sent_at, stuck.failed_at, stuck.refusals) == (None, None, 3)
    assert stuck.next_attempt_at is not None
    assert OutboxEvent.objects.sent().count() == 2


def test_an_sns_outage_parks_nothing(sns, topology):
    make_users(3)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn + "-missing"), max_attempts=1)
    try:
        outcomes = [relay.relay_once() for _ in range(3)]
    finally:
        relay.close()
    assert all(o.call_failed and not o.parked for o in outcomes)
    assert OutboxEvent.objects.pending().count() == 3
    assert set(OutboxEvent.objects.values_list("attempts", "refusals")) == {(3, 0)}
