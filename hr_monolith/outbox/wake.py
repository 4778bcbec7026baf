"""Waking the relay when an outbox row commits, so an idle relay publishes at once instead of at
its next poll.

The writer announces each transaction that wrote outbox rows; the relay waits for an announcement
with a poll interval as the timeout, so a lost announcement costs at most one poll interval, never
an event. While the relay listens, that interval is the long RELAY_WAKE_POLL_INTERVAL (an idle
relay then wakes a few times a minute, not five times a second); while it cannot (reconnecting,
Redis down) it polls every RELAY_POLL_INTERVAL:

- PostgreSQL: `NOTIFY` in the writer's own transaction. PostgreSQL delivers it only if and when
  the transaction commits, folds the notifications of one transaction into one, and the relay
  `LISTEN`s on a connection of its own.
- SQLite (or any other database) with `RELAY_WAKE_REDIS_URL` set: a Redis `PUBLISH` after the
  commit (`transaction.on_commit`); the relay subscribes.
- Otherwise, or with `RELAY_WAKE` off: the relay polls.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Protocol

import psycopg
import redis
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

log = logging.getLogger(__name__)

#: The one name of the wake-up channel: a PostgreSQL LISTEN/NOTIFY channel and a Redis channel.
CHANNEL = "hr_outbox_committed"
#: Seconds a nudge may take before the writer gives up on it (the relay's poll catches the row).
REDIS_SOCKET_TIMEOUT = 0.25


def wake_enabled() -> bool:
    return settings.RELAY_WAKE


def announce_outbox_write(using: str = "default") -> None:
    """Tell the relay that the transaction in hand wrote outbox rows; call it inside the transaction.

    On PostgreSQL the NOTIFY is part of the transaction (a rollback takes it back); elsewhere a
    Redis nudge is sent after the commit, once per transaction however many rows it wrote.
    """
    if not wake_enabled():
        return
    connection = connections[using]
    if connection.vendor == "postgresql":
        # Once per transaction: PostgreSQL folds them anyway, and a burst of a thousand creates
        # in one transaction sent a thousand NOTIFY statements. The mark is an on-commit no-op,
        # so a savepoint rolled back (which takes its NOTIFY back) takes the mark back too.
        if _pending_on_commit(connection, _notified):
            return
        with connection.cursor() as cursor:
            cursor.execute(f"NOTIFY {CHANNEL}")
        transaction.on_commit(_notified, using=using)
        return
    if not settings.RELAY_WAKE_REDIS_URL:
        return
    if _pending_on_commit(connection, _publish_nudge):
        return
    # robust: a failed nudge is logged by Django and never undoes or fails the committed change.
    transaction.on_commit(_publish_nudge, using=using, robust=True)


def _pending_on_commit(connection: BaseDatabaseWrapper, callback: object) -> bool:
    return any(pending is callback for _, pending, _ in connection.run_on_commit)


def _notified() -> None:
    """Marks a transaction that has sent its NOTIFY (run on commit, does nothing)."""


#: The writer's Redis client per URL, made on the first nudge (a pool, shared by threads).
_nudge_clients: dict[str, redis.Redis] = {}
_nudge_lock = threading.Lock()


def _nudge_redis(url: str) -> redis.Redis:
    with _nudge_lock:
        if url not in _nudge_clients:
            _nudge_clients[url] = redis.Redis.from_url(
                url, socket_timeout=REDIS_SOCKET_TIMEOUT, socket_connect_timeout=REDIS_SOCKET_TIMEOUT
            )
        return _nudge_clients[url]


def _publish_nudge() -> None:
    try:
        _nudge_redis(settings.RELAY_WAKE_REDIS_URL).publish(CHANNEL, b"")
    except redis.RedisError as exc:
        # Not an error of the change: the relay's poll picks the row up (RELAY_WAKE_POLL_INTERVAL).
        log.warning("outbox: could not nudge the relay over Redis (%s); it will poll", type(exc).__name__)


class OutboxWake(Protocol):
    """How the relay waits while the outbox is empty. `listening`: a commit would wake it now (the
    LISTEN or the subscription is in place), so the relay may poll seldom."""

    @property
    def listening(self) -> bool: ...

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        """Return when a write was announced (True), or after `timeout` or once `stop` is set (False)."""

    def close(self) -> None: ...


class PollWake:
    """No announcements: sleep the poll interval (or until `stop`)."""

    listening = False

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        stop.wait(timeout)
        return False

    def close(self) -> None:
        pass


class PostgresWake:
    """`LISTEN` on a connection of the relay's own, in autocommit; reconnects after a failure and
    polls meanwhile. The LISTEN is in place before the first pass, so a commit that lands while a
    pass runs wakes the next wait at once."""

    def __init__(self, using: str = "default") -> None:
        self.using = using
        self._wrapper: BaseDatabaseWrapper | None = None
        self._listen()

    @property
    def listening(self) -> bool:
        return self._wrapper is not None

    def _listen(self) -> None:
        try:
            wrapper = connections.create_connection(self.using)
            wrapper.ensure_connection()
            wrapper.set_autocommit(True)
            wrapper.connection.execute(f"LISTEN {CHANNEL}")
        except (DatabaseError, psycopg.Error) as exc:
            log.warning("outbox relay: cannot LISTEN (%s); polling until it can", type(exc).__name__)
            self._wrapper = None
            return
        self._wrapper = wrapper

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        if self._wrapper is None:
            stop.wait(timeout)
            self._listen()
            return False
        conn = self._wrapper.connection
        try:
            woken = any(True for _ in conn.notifies(timeout=timeout, stop_after=1))
            # Drain what else arrived meanwhile: one pass serves them all.
            for _ in conn.notifies(timeout=0):
                pass
        except (DatabaseError, psycopg.Error) as exc:
            log.warning("outbox relay: LISTEN connection lost (%s); polling meanwhile", type(exc).__name__)
            self.close()
            stop.wait(timeout)
            return False
        return woken

    def close(self) -> None:
        if self._wrapper is not None:
            with contextlib.suppress(DatabaseError, psycopg.Error):
                self._wrapper.close()
            self._wrapper = None


class RedisWake:
    """A Redis subscription to the nudges; reconnects after a failure and polls meanwhile."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._pubsub: redis.client.PubSub | None = None
        self._subscribe()

    @property
    def listening(self) -> bool:
        return self._pubsub is not None

    def _subscribe(self) -> None:
        try:
            client = redis.Redis.from_url(self.url, socket_connect_timeout=REDIS_SOCKET_TIMEOUT)
            pubsub = client.pubsub()
            pubsub.subscribe(CHANNEL)
            # Wait for the confirmation: nudges published from then on reach this subscriber.
            deadline = time.monotonic() + REDIS_SOCKET_TIMEOUT * 4
            while (message := pubsub.get_message(timeout=0.05)) is None or message["type"] != "subscribe":
                if time.monotonic() > deadline:
                    raise redis.TimeoutError("no confirmation of the subscription")
        except redis.RedisError as exc:
            log.warning("outbox relay: cannot subscribe to Redis nudges (%s); polling", type(exc).__name__)
            self._pubsub = None
            return
        self._pubsub = pubsub

    def wait(self, stop: threading.Event, timeout: float) -> bool:
        if self._pubsub is None:
            stop.wait(timeout)
            self._subscribe()
            return False
        deadline = time.monotonic() + timeout
        woken = False
        try:
            while not woken and (remaining := deadline - time.monotonic()) > 0:
                message = self._pubsub.get_message(timeout=remaining)
                woken = message is not None and message["type"] == "message"
            # Drain what else arrived meanwhile: one pass serves them all.
            while self._pubsub.get_message(timeout=0) is not None:
                pass
        except redis.RedisError as exc:
            log.warning("outbox relay: Redis subscription lost (%s); polling", type(exc).__name__)
            self.close()
            stop.wait(timeout)
            return False
        return woken

    def close(self) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError):
                self._pubsub.close()
            self._pubsub = None


def outbox_wake(using: str = "default") -> OutboxWake:
    """The relay's wait, from the settings: LISTEN on PostgreSQL, Redis nudges if configured, polling."""
    if not wake_enabled():
        return PollWake()
    if connections[using].vendor == "postgresql":
        return PostgresWake(using)
    if settings.RELAY_WAKE_REDIS_URL:
        return RedisWake(settings.RELAY_WAKE_REDIS_URL)
    return PollWake()
