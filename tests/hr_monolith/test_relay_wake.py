"""An idle relay wakes when an outbox row commits (a Redis nudge on SQLite, NOTIFY on PostgreSQL)
instead of waiting out its poll interval, and still polls when no wake-up comes."""

from __future__ import annotations

import contextlib
import datetime
import threading
import time

import pytest
import redis
from django.db import connection, transaction
from django.utils import timezone

from devstack.processes import wait_until
from events.publisher import SnsPublisher
from hr_monolith.outbox.models import OutboxEvent
from hr_monolith.outbox.relay import OutboxRelay
from hr_monolith.outbox.services import PurgeSchedule
from hr_monolith.outbox.wake import CHANNEL, OutboxWake, PollWake, PostgresWake, RedisWake, outbox_wake
from hr_monolith.people import services

#: Far longer than any wait below: a row published before it passes was published on a wake-up.
LONG_POLL = 120.0


class RecordingWake:
    """The relay's wake, recording each idle wait's timeout and what it returned (True: woken by a
    commit)."""

    def __init__(self, inner: OutboxWake) -> None:
        self.inner = inner
        self.timeouts: list[float] = []
        self.results: list[bool] = []
        self.waiting = threading.Event()

    @property
    def listening(self) -> bool:
        return self.inner.listening

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        self.timeouts.append(timeout)
        self.waiting.set()
        woken = self.inner.wait(stop, timeout)
        self.results.append(woken)
        return woken

    def close(self) -> None:
        self.inner.close()


class RelayThread:
    """`OutboxRelay.run` in a thread of its own, with its wake recorded."""

    def __init__(
        self,
        relay: OutboxRelay,
        wake: RecordingWake,
        poll_interval: float,
        wake_poll_interval: float | None = None,
    ) -> None:
        self.relay, self.wake, self.stop = relay, wake, threading.Event()
        self.errors: list[BaseException] = []
        self.thread = threading.Thread(target=self._run, args=(poll_interval, wake_poll_interval))

    def _run(self, poll_interval: float, wake_poll_interval: float | None) -> None:
        try:
            self.relay.run(
                self.stop, poll_interval=poll_interval, wake=self.wake, wake_poll_interval=wake_poll_interval
            )
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()

    def __enter__(self) -> RelayThread:
        self.thread.start()
        # The first pass found nothing: the relay is idle, in its wait.
        wait_until(self.wake.waiting.is_set, timeout=30, what="the relay idle")
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop.set()
        # Wake the wait in hand rather than wait out a long poll; again until the thread ends, as a
        # nudge sent just before the relay entered its wait is not seen by that wait.
        deadline = time.monotonic() + 30
        while self.thread.is_alive() and time.monotonic() < deadline:
            self.wake_up()
            self.thread.join(0.2)
        self.relay.close()
        self.wake.close()
        assert not self.thread.is_alive()
        assert not self.errors, self.errors

    def wake_up(self) -> None:
        inner = self.wake.inner
        if isinstance(inner, RedisWake):
            # Unreachable: the relay polls, and its wait ends soon anyway.
            with contextlib.suppress(redis.ConnectionError):
                redis.Redis.from_url(inner.url).publish(CHANNEL, b"")
        elif isinstance(inner, PostgresWake):
            with connection.cursor() as cursor:
                cursor.execute(f"NOTIFY {CHANNEL}")


def sent(count: int) -> bool:
    return OutboxEvent.objects.filter(sent_at__isnull=False).count() >= count


def create_user(i: int = 0):
    return services.user_create(email=f"wake{i}@example.com", first_name="W", last_name=str(i))


def rolled_back_create(i: int) -> None:
    class RolledBack(Exception):
        pass

    try:
        with transaction.atomic():
            create_user(i)
            raise RolledBack
    except RolledBack:
        pass
    assert not OutboxEvent.objects.filter(envelope__payload__email=f"wake{i}@example.com").exists()


@pytest.mark.django_db(transaction=True)
def test_relay_wakes_on_the_redis_nudge_of_a_commit(sns, topology, redis_url, settings):
    settings.RELAY_WAKE_REDIS_URL = redis_url
    wake = RecordingWake(outbox_wake())
    assert isinstance(wake.inner, RedisWake)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    with RelayThread(relay, wake, poll_interval=LONG_POLL, wake_poll_interval=LONG_POLL):
        create_user()
        wait_until(lambda: sent(1), timeout=30, what="the new row sent")
        # Published within the first wait, which a nudge ended: not by the poll.
        assert wake.results[0] is True


@pytest.mark.django_db(transaction=True)
def test_one_nudge_per_committed_transaction_none_for_a_rollback(redis_url, settings):
    settings.RELAY_WAKE_REDIS_URL = redis_url
    listener = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(CHANNEL)
    listener.get_message(timeout=5)  # the subscription is in place
    with transaction.atomic():
        for i in range(3):
            create_user(i)
    rolled_back_create(10)
    nudges = []
    while (message := listener.get_message(timeout=1)) is not None:
        nudges.append(message)
    listener.close()
    assert len(nudges) == 1
    assert nudges[0]["channel"] == CHANNEL.encode()


@pytest.mark.django_db(transaction=True)
def test_a_lost_wake_up_is_caught_by_the_poll_while_listening(sns, topology, redis_url, settings):
    # Subscribed to a Redis, but the writer sends no nudge (none configured on its side). The
    # relay polls only at the wake-up's interval here: the other one never comes within the test.
    wake = RecordingWake(RedisWake(redis_url))
    settings.RELAY_WAKE_REDIS_URL = ""
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    with RelayThread(relay, wake, poll_interval=LONG_POLL, wake_poll_interval=0.05):
        create_user()
        wait_until(lambda: sent(1), timeout=30, what="the new row sent by polling")
    assert wake.results
    assert not any(wake.results[:-1])
    assert set(wake.timeouts) == {0.05}


@pytest.mark.django_db(transaction=True)
def test_relay_polls_often_when_its_redis_is_unreachable(sns, topology, settings):
    from devstack.processes import free_port

    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    settings.RELAY_WAKE_REDIS_URL = nowhere
    wake = RecordingWake(outbox_wake())
    assert not wake.listening
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    with RelayThread(relay, wake, poll_interval=0.05, wake_poll_interval=LONG_POLL):
        # The writer's nudge fails too: logged, the change is committed all the same.
        user = create_user()
        wait_until(lambda: sent(1), timeout=30, what="the new row sent by polling")
    assert OutboxEvent.objects.get(aggregate_id=str(user.id)).sent_at is not None
    assert not any(wake.results)
    assert LONG_POLL not in wake.timeouts


@pytest.mark.django_db(transaction=True)
def test_an_idle_relay_polls_seldom_while_listening(sns, topology, redis_url):
    wake = RecordingWake(RedisWake(redis_url))
    assert wake.listening
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    with RelayThread(relay, wake, poll_interval=0.05, wake_poll_interval=LONG_POLL):
        assert wake.timeouts == [LONG_POLL]


@pytest.mark.django_db(transaction=True)
def test_a_purge_under_way_keeps_the_short_poll(sns, topology, redis_url):
    for i in range(3):
        create_user(i)
    OutboxEvent.objects.update(sent_at=timezone.now() - datetime.timedelta(days=30))
    purge = PurgeSchedule(retention=datetime.timedelta(days=1), interval_seconds=3600, batch_size=1)
    wake = RecordingWake(RedisWake(redis_url))
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn), purge=purge)
    with RelayThread(relay, wake, poll_interval=0.01, wake_poll_interval=LONG_POLL):
        wait_until(lambda: LONG_POLL in wake.timeouts, timeout=30, what="the purge done")
    # One batch of one row per pass, each pass followed by the short wait; then the long one.
    assert wake.timeouts[:4] == [0.01, 0.01, 0.01, LONG_POLL]
    assert not OutboxEvent.objects.exists()


def test_wake_follows_the_settings(settings):
    settings.RELAY_WAKE_REDIS_URL = ""
    assert isinstance(outbox_wake(), PollWake)
    settings.RELAY_WAKE = False
    settings.RELAY_WAKE_REDIS_URL = "redis://127.0.0.1:1/0"
    assert isinstance(outbox_wake(), PollWake)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_relay_wakes_on_notify_of_a_commit(sns, topology):
    wake = RecordingWake(outbox_wake())
    assert isinstance(wake.inner, PostgresWake)
    relay = OutboxRelay(SnsPublisher(sns, topology.topic_arn))
    with RelayThread(relay, wake, poll_interval=LONG_POLL):
        create_user()
        wait_until(lambda: sent(1), timeout=30, what="the new row sent")
        assert wake.results[0] is True


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_notify_comes_with_the_commit_only():
    wake = PostgresWake()
    stop = threading.Event()
    try:
        rolled_back_create(1)
        assert wake.wait(stop, 0.5) is False
        create_user(2)
        assert wake.wait(stop, 30) is True
    finally:
        wake.close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_notify_statement_per_transaction():
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        for i in range(3):
            create_user(i)
    assert sum(query["sql"].startswith("NOTIFY") for query in queries.captured_queries) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_write_after_a_rolled_back_savepoint_notifies_again():
    class RolledBack(Exception):
        pass

    wake = PostgresWake()
    stop = threading.Event()
    try:
        with transaction.atomic():
            try:
                with transaction.atomic():
                    create_user(1)  # its NOTIFY goes with the savepoint
                    raise RolledBack
            except RolledBack:
                pass
            create_user(2)
        assert wake.wait(stop, 30) is True
    finally:
        wake.close()
