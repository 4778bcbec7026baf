"""The hand-off record: written before SQS forgets an event, and what brings the event back when
the broker loses it (docs/delivery.md).

Real parts throughout: the moto server for SQS, the suite's Redis as the broker, the users
database, and for convergence a Celery worker consuming the events queue from that Redis.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.db import OperationalError, connection
from django.utils import timezone

from devstack.processes import wait_until
from events import types
from events.bridge.celery_publisher import CeleryTaskPublisher
from events.errors import TransientError
from events.topology import Topology
from tests.events.bridge.helpers import make_bridge, queue_depth, queued_task_ids
from tests.samples import sns_notification
from tests.users_service.cache.test_invalidation import catalogue_event
from tests.users_service.events import new_user_id, user_state_event
from users_service.bridge.handoff import DatabaseHandOffLog, handoff_sweep
from users_service.bridge.models import HandOff
from users_service.directory import services
from users_service.directory.models import FailedTask, InboxEntry, UserRecord
from users_service.ops import metrics
from users_service.queues import EVENTS
from users_service.routing import APPLY_USER_EVENT, ROUTES

APPLY = APPLY_USER_EVENT.task


def send_events(sqs, top: Topology, envelopes: list[dict]) -> None:
    for start in range(0, len(envelopes), 10):
        sqs.send_message_batch(
            QueueUrl=top.queue_url,
            Entries=[
                {"Id": str(i), "MessageBody": sns_notification(top.topic_arn, json.dumps(e))}
                for i, e in enumerate(envelopes[start : start + 10])
            ],
        )


def users_bridge(sqs, top: Topology, broker_url: str):
    """The bridge as run_bridge builds it: the users service's routes and its hand-off log."""
    return make_bridge(sqs, top, broker_url, routes=ROUTES, handoff_log=DatabaseHandOffLog())


def drain(bridge) -> None:
    while bridge.poll_once().received:
        pass


def after_grace(seconds: float = 1) -> object:
    from django.conf import settings

    return timezone.now() + timedelta(seconds=settings.HANDOFF_GRACE_SECONDS + seconds)


@pytest.fixture
def publisher(celery_broker) -> CeleryTaskPublisher:
    from users_service.celery import app

    publisher = CeleryTaskPublisher(app)
    yield publisher
    publisher.close()


@pytest.mark.django_db
def test_the_handoff_is_recorded_before_the_message_is_deleted(sqs, topology, celery_broker):
    calls: list[str] = []

    class Spy(DatabaseHandOffLog):
        def record(self, handoffs):
            calls.append(f"record {len(handoffs)}")
            super().record(handoffs)

    sqs.meta.events.register("before-call.sqs.DeleteMessageBatch", lambda **_: calls.append("delete"))
    envelopes = [user_state_event(new_user_id(), 1, types.USER_CREATED) for _ in range(3)]
    send_events(sqs, topology, envelopes)
    bridge = make_bridge(sqs, topology, celery_broker, routes=ROUTES, handoff_log=Spy())

    drain(bridge)

    assert calls == ["record 3", "delete"]
    assert queue_depth(sqs, topology.queue_url) == 0
    records = {str(r.event_id): r for r in HandOff.objects.all()}
    assert set(records) == {e["event_id"] for e in envelopes}
    record = records[envelopes[0]["event_id"]]
    event_id = envelopes[0]["event_id"]
    assert record.task_ids == [f"{event_id}:{APPLY}", f"{event_id}:resources.warm"]
    assert (record.event_type, record.aggregate_id, record.trace_id) == (
        types.USER_CREATED,
        envelopes[0]["aggregate_id"],
        envelopes[0]["trace_id"],
    )
    assert record.received_at <= record.handed_at < record.next_attempt_at
    assert (record.attempts, record.applied_at) == (0, None)
    assert bridge.stats.snapshot()["handoffs_recorded"] == 3


@pytest.mark.django_db
def test_an_event_with_nothing_to_wait_for_is_recorded_applied(sqs, topology, celery_broker):
    envelope = catalogue_event("departments")
    send_events(sqs, topology, [envelope])

    drain(users_bridge(sqs, topology, celery_broker))

    record = HandOff.objects.get()
    assert record.applied_at == record.handed_at
    assert (record.next_attempt_at, record.envelope) == (None, None)


@pytest.mark.django_db(transaction=True)
def test_a_handoff_that_cannot_be_recorded_leaves_the_message_in_sqs(sqs, topology, celery_broker):
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED)
    send_events(sqs, topology, [envelope])
    bridge = users_bridge(sqs, topology, celery_broker)
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE bridge_handoff RENAME TO bridge_handoff_away")
    try:
        with pytest.raises(TransientError, match="hand-off not recorded"):
            bridge.poll_once()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE bridge_handoff_away RENAME TO bridge_handoff")

    assert queue_depth(sqs, topology.queue_url) == 1
    snapshot = bridge.stats.snapshot()
    assert (snapshot["deleted"], snapshot["handoff_failures"], snapshot["left_for_redelivery"]) == (0, 1, 1)
    # The message comes back after its (short) redelivery delay; this time it is recorded and deleted.
    wait_until(lambda: bridge.poll_once().deleted == 1, timeout=30, what="redelivered and deleted")
    assert queue_depth(sqs, topology.queue_url) == 0
    assert str(HandOff.objects.get().event_id) == envelope["event_id"]
    # Published twice under one task id: the inbox makes the second a no-op.
    assert queued_task_ids(celery_broker) == [f"{envelope['event_id']}:{APPLY}"] * 2


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_loses_everything_is_refilled_and_each_event_applied_once(
    sqs, topology, celery_broker, publisher
):
    from users_service.celery import app

    envelopes = [user_state_event(new_user_id(), 1, types.USER_CREATED) for _ in range(5)]
    send_events(sqs, topology, envelopes)
    drain(users_bridge(sqs, topology, celery_broker))
    assert queue_depth(sqs, topology.queue_url) == 0
    assert len(queued_task_ids(celery_broker, EVENTS.queue)) == 5

    redis.Redis.from_url(celery_broker).flushall()  # the broker restarts without its data

    # Within the grace nothing is due; after it, every event is published again, same task ids.
    assert handoff_sweep(publisher=publisher).republished == 0
    assert handoff_sweep(publisher=publisher, now=after_grace()).republished == 5
    assert sorted(queued_task_ids(celery_broker, EVENTS.queue)) == sorted(
        f"{e['event_id']}:{APPLY}" for e in envelopes
    )
    assert HandOff.objects.filter(attempts=1, applied_at=None).count() == 5

    def all_applied() -> bool:
        try:
            return InboxEntry.objects.count() == 5
        except OperationalError:
            # The worker's thread and this one share the in-memory test database (SQLite's shared
            # cache), where a table being written is refused at once ("database table is locked").
            return False

    with start_worker(app, pool="solo", perform_ping_check=False, queues=[EVENTS.queue]):
        wait_until(all_applied, timeout=60, what="the events applied")

    later = timezone.now() + timedelta(hours=1)
    assert handoff_sweep(publisher=publisher, now=later).applied == 5
    assert HandOff.objects.filter(applied_at=None).count() == 0
    assert HandOff.objects.exclude(envelope=None).count() == 0
    assert UserRecord.objects.count() == 5
    assert sorted(InboxEntry.objects.values_list("outcome", flat=True)) == ["applied"] * 5
    assert {str(e) for e in InboxEntry.objects.values_list("event_id", flat=True)} == {
        e["event_id"] for e in envelopes
    }


@pytest.mark.django_db
def test_an_applied_event_is_marked_and_not_published_again(sqs, topology, celery_broker, publisher):
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED)
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))
    redis.Redis.from_url(celery_broker).flushall()
    services.apply_user_event(envelope=envelope, task_name=APPLY)  # what the worker did

    outcome = handoff_sweep(publisher=publisher, now=after_grace())

    assert (outcome.applied, outcome.republished) == (1, 0)
    assert queued_task_ids(celery_broker, EVENTS.queue) == []
    record = HandOff.objects.get()
    assert record.applied_at == InboxEntry.objects.get().processed_at
    assert (record.next_attempt_at, record.envelope, record.attempts) == (None, None, 0)
    assert handoff_sweep(publisher=publisher, now=after_grace(3600)).republished == 0


@pytest.mark.django_db
def test_republishing_backs_off(sqs, topology, celery_broker, publisher, settings):
    settings.HANDOFF_GRACE_SECONDS = 10
    settings.HANDOFF_BACKOFF_CAP_SECONDS = 40
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED)
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))
    now = after_grace()
    waits = []
    for _ in range(4):
        redis.Redis.from_url(celery_broker).flushall()  # lost again: not waiting in the queue
        assert handoff_sweep(publisher=publisher, now=now).republished == 1
        record = HandOff.objects.get()
        waits.append((record.next_attempt_at - now).total_seconds())
        assert handoff_sweep(publisher=publisher, now=now).republished == 0  # not due again at once
        now = record.next_attempt_at
    assert HandOff.objects.get().attempts == 4
    # [grace, 2 grace], [2 grace, 4 grace], then capped: never sooner than the grace, never past the cap.
    assert 10 <= waits[0] <= 20
    assert 20 <= waits[1] <= 40
    assert all(20 <= w <= 40 for w in waits[2:])


@pytest.mark.django_db
def test_applied_records_are_pruned_after_the_retention(sqs, topology, celery_broker, publisher, settings):
    settings.HANDOFF_RETENTION_HOURS = 2
    envelopes = [user_state_event(new_user_id(), 1, types.USER_UPDATED) for _ in range(3)]
    send_events(sqs, topology, envelopes)
    drain(users_bridge(sqs, topology, celery_broker))
    for envelope in envelopes[:2]:
        services.apply_user_event(envelope=envelope, task_name=APPLY)
    assert handoff_sweep(publisher=publisher, now=after_grace()).applied == 2

    assert handoff_sweep(publisher=publisher, now=timezone.now() + timedelta(hours=1)).pruned == 0
    outcome = handoff_sweep(publisher=publisher, now=timezone.now() + timedelta(hours=2, minutes=1))

    assert outcome.pruned == 2
    # The one never applied stays, whatever its age.
    assert [str(r.event_id) for r in HandOff.objects.all()] == [envelopes[2]["event_id"]]


@pytest.mark.django_db
def test_the_admin_shows_a_handoff_without_its_envelope(sqs, topology, celery_broker, admin_client):
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED, email="private@example.com")
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))

    listing = admin_client.get("/admin/bridge/handoff/")
    page = admin_client.get(f"/admin/bridge/handoff/{envelope['event_id']}/change/")

    assert listing.status_code == page.status_code == 200
    assert envelope["event_id"] in page.content.decode()
    assert "private@example.com" not in listing.content.decode() + page.content.decode()


@pytest.mark.django_db
def test_a_sweep_takes_batch_after_batch_while_more_are_due(
    sqs, topology, celery_broker, publisher, settings
):
    settings.HANDOFF_SWEEP_BATCH = 2
    envelopes = [user_state_event(new_user_id(), 1, types.USER_UPDATED) for _ in range(5)]
    send_events(sqs, topology, envelopes)
    drain(users_bridge(sqs, topology, celery_broker))
    redis.Redis.from_url(celery_broker).flushall()

    outcome = handoff_sweep(publisher=publisher, now=after_grace())

    assert outcome.republished == 5
    assert sorted(queued_task_ids(celery_broker, EVENTS.queue)) == sorted(
        f"{e['event_id']}:{APPLY}" for e in envelopes
    )
    assert HandOff.objects.filter(attempts=1).count() == 5


@pytest.mark.django_db
def test_an_event_still_queued_behind_a_backlog_is_not_published_again(
    sqs, topology, celery_broker, publisher
):
    envelopes = [user_state_event(new_user_id(), 1, types.USER_UPDATED) for _ in range(3)]
    send_events(sqs, topology, envelopes)
    drain(users_bridge(sqs, topology, celery_broker))
    queued = queued_task_ids(celery_broker, EVENTS.queue)

    # Past the grace, but the tasks wait in the events queue (the worker is behind): only late.
    outcome = handoff_sweep(publisher=publisher, now=after_grace())

    assert (outcome.republished, outcome.still_queued) == (0, 3)
    assert queued_task_ids(celery_broker, EVENTS.queue) == queued  # no duplicate
    assert HandOff.objects.filter(attempts=0).count() == 3
    # The broker then loses them: the next look publishes them again.
    redis.Redis.from_url(celery_broker).flushall()
    later = max(HandOff.objects.values_list("next_attempt_at", flat=True))
    assert handoff_sweep(publisher=publisher, now=later).republished == 3


def lose_until_parked(celery_broker: str, publisher, attempts: int) -> HandOff:
    """Sweep after each backoff, the broker losing the tasks every time, until a round parks."""
    now = after_grace()
    for _ in range(attempts):
        redis.Redis.from_url(celery_broker).flushall()
        assert handoff_sweep(publisher=publisher, now=now).republished == 1
        now = HandOff.objects.get().next_attempt_at
    redis.Redis.from_url(celery_broker).flushall()
    outcome = handoff_sweep(publisher=publisher, now=now)
    assert (outcome.republished, outcome.parked) == (0, 1)
    return HandOff.objects.get()


@pytest.mark.django_db
def test_an_event_that_never_reaches_the_inbox_is_parked_after_the_last_attempt(
    sqs, topology, celery_broker, publisher, settings
):
    settings.HANDOFF_MAX_ATTEMPTS = 2
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED)
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))
    FailedTask.objects.create(  # what the worker wrote when the task failed for good
        task_id=f"{envelope['event_id']}:{APPLY}",
        task_name=APPLY,
        args=[envelope],
        queue=EVENTS.queue,
        error="ValueError: no such department",
        attempts=1,
        transient=False,
        failed_at=timezone.now(),
    )
    parked_before = metrics.value(metrics.HANDOFFS_PARKED, metrics.snapshot()) or 0

    record = lose_until_parked(celery_broker, publisher, attempts=2)

    assert record.attempts == 2
    assert record.parked_at is not None
    assert record.parked_reason == "ValueError: no such department"
    assert record.applied_at is None
    assert queued_task_ids(celery_broker, EVENTS.queue) == []
    assert metrics.value(metrics.HANDOFFS_PARKED, metrics.snapshot()) == parked_before + 1
    # Parked: looked at again, never published again.
    much_later = timezone.now() + timedelta(days=2)
    assert handoff_sweep(publisher=publisher, now=much_later).republished == 0
    assert queued_task_ids(celery_broker, EVENTS.queue) == []


@pytest.mark.django_db
def test_a_parked_event_applied_by_other_means_is_marked_applied(
    sqs, topology, celery_broker, publisher, settings
):
    settings.HANDOFF_MAX_ATTEMPTS = 1
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED)
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))
    record = lose_until_parked(celery_broker, publisher, attempts=1)
    assert record.parked_reason  # no failed task known: says what happened
    services.apply_user_event(envelope=envelope, task_name=APPLY)  # the failed task re-enqueued

    # A parked record is looked at again every HANDOFF_BACKOFF_CAP_SECONDS.
    assert record.next_attempt_at == record.parked_at + timedelta(
        seconds=settings.HANDOFF_BACKOFF_CAP_SECONDS
    )
    handoff_sweep(publisher=publisher, now=record.next_attempt_at)

    record = HandOff.objects.get()
    assert record.applied_at == InboxEntry.objects.get().processed_at
    assert (record.parked_at, record.envelope) == (None, None)


@pytest.mark.django_db
def test_the_admin_resends_a_parked_event(sqs, topology, celery_broker, publisher, settings, admin_client):
    settings.HANDOFF_MAX_ATTEMPTS = 1
    envelope = user_state_event(new_user_id(), 1, types.USER_UPDATED)
    send_events(sqs, topology, [envelope])
    drain(users_bridge(sqs, topology, celery_broker))
    lose_until_parked(celery_broker, publisher, attempts=1)
    listing = admin_client.get("/admin/bridge/handoff/?parked=yes")
    assert envelope["event_id"] in listing.content.decode()

    response = admin_client.post(
        "/admin/bridge/handoff/", {"action": "resend", "_selected_action": [envelope["event_id"]]}
    )

    assert response.status_code == 302
    assert queued_task_ids(celery_broker, EVENTS.queue) == [f"{envelope['event_id']}:{APPLY}"]
    record = HandOff.objects.get()
    assert (record.parked_at, record.parked_reason, record.attempts) == (None, "", 0)
    assert record.next_attempt_at > timezone.now()
