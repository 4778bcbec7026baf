"""How the bridge hands tasks to the broker: the `TaskPublisher` interface and its Celery
implementation, which publishes a batch's tasks in one pipelined producer batch, failing fast.

kombu retries a refused connection with 2 s sleeps (2-6 s per publish when Redis
is down). The bridge has its own answer to an outage (leave the messages in SQS,
back off), so its connection does not retry: `max_retries=0` makes a refused
publish fail in milliseconds. It is not done with the `retry`/`retry_on_timeout`
transport options, because kombu silently turns `Producer.batch` into one-by-one
publishing when those are set (`batch_publishing()` checks it).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from kombu import Connection, Producer
from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from events.bridge.celery_message import TaskDestination
from events.bridge.routing import TaskMessage
from events.errors import TransientError
from events.redis_transport import transport_for
from events.task_repr import task_argsrepr, task_kwargsrepr
from events.tracecontext import TRACEPARENT, TraceParent, otel_parent, otel_recording

#: Errors that mean "the broker did not take the batch, try again later".
BROKER_ERRORS = (OperationalError, KombuError, RedisError, ConnectionError, socket.timeout, OSError)


class TaskPublisher(Protocol):
    def publish(self, tasks: Sequence[TaskMessage]) -> None:
        """Hand every task to the broker or raise `TransientError`; nothing in between."""

    def close(self) -> None:
        """Release connections (called once, when the bridge stops)."""


class CeleryTaskPublisher:
    """`TaskPublisher` on a Celery app: all tasks of a batch go out in one Redis pipeline.

    kombu's `Producer.batch` buffers the publishes and flushes them when the
    context exits; the flush returns only when Redis has accepted every task,
    which is what allows the bridge to delete the SQS messages afterwards.
    Each receive loop (thread) gets a connection of its own, so loops never
    wait on a shared pool.
    """

    #: Tasks kombu buffers before it flushes early: more than one received batch (ten messages)
    #: ever fans out to, so each batch goes out in one pipeline.
    max_batch = 1000

    def __init__(self, app: Any, *, connect_timeout: float = 0.5, socket_timeout: float = 5.0) -> None:
        self.app = app
        self.connect_timeout = connect_timeout
        self.socket_timeout = socket_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._producers: set[Producer] = set()
        #: (task name, queue) -> how send_task publishes it, worked out at the first publish.
        self._destinations: dict[tuple[str, str], TaskDestination | None] = {}

    def connection(self) -> Connection:
        options = dict(self.app.conf.broker_transport_options or {})
        # max_retries=0: kombu would otherwise retry connecting with 2 s sleeps.
        options.update(
            socket_connect_timeout=self.connect_timeout, socket_timeout=self.socket_timeout, max_retries=0
        )
        broker_url = self.app.conf.broker_url
        return Connection(
            broker_url,
            # One redis-py client for all of a loop's batches (kombu's channel builds one a batch).
            transport=transport_for(broker_url),
            transport_options=options,
            connect_timeout=self.connect_timeout,
        )

    def producer(self) -> Producer:
        """This thread's producer (created on first use, and again after a failure)."""
        producer = getattr(self._local, "producer", None)
        if producer is None:
            producer = Producer(self.connection())
            self._local.producer = producer
            with self._lock:
                self._producers.add(producer)
        return producer

    def batch_publishing(self) -> bool:
        """Whether kombu will really pipeline this publisher's batches (it falls back silently)."""
        return bool(getattr(self.producer().channel, "supports_batch_publish", False))

    def publish(self, tasks: Sequence[TaskMessage]) -> None:
        try:
            producer = self.producer()
            with producer.batch(max_size=self.max_batch):
                for task in tasks:
                    self._send(producer, task)
        except BROKER_ERRORS as exc:
            self._drop_connection()
            raise TransientError(f"broker unavailable: {exc!r}") from exc

    def _send(self, producer: Producer, task: TaskMessage) -> None:
        parent = TraceParent.parse(task.traceparent)
        headers = {TRACEPARENT: str(parent)} if parent is not None else None
        destination = self._destination(task.task, task.queue)
        if destination is None or self.app.current_worker_task is not None:
            self._send_task(producer, task, parent, headers)
        elif parent is not None and otel_recording():
            # With tracing on, Celery's instrumentation starts its publish span under this parent
            # (in the before_task_publish signal) and writes that span into the header.
            with otel_parent(parent):
                destination.publish(self.app, producer, task, headers)
        else:
            # Tracing off: the header is the bridge's own span of the event's trace.
            destination.publish(self.app, producer, task, headers)

    def _destination(self, name: str, queue: str) -> TaskDestination | None:
        key = (name, queue)
        try:
            return self._destinations[key]
        except KeyError:
            destination = self._destinations[key] = TaskDestination.resolve(self.app, name, queue)
            return destination

    def _send_task(
        self,
        producer: Producer,
        task: TaskMessage,
        parent: TraceParent | None,
        headers: dict[str, str] | None,
    ) -> None:
        """Celery's own path, where `TaskDestination` does not apply (a publish from inside a task,
        or a task whose options it does not cover)."""
        with otel_parent(parent):
            self.app.send_task(
                task.task,
                args=[task.envelope],
                task_id=task.task_id,
                queue=task.queue,
                producer=producer,
                retry=False,
                # Celery would bind (copy) and declare the queue at every publish, a third of
                # its cost. The anonymous direct exchange needs no declaration on Redis: the
                # task goes to the list named after the queue, which workers declare.
                declare=[],
                # Celery would saferepr() the whole envelope into the message headers:
                # slow (a third of the publish time) and it copies personal data there.
                argsrepr=task_argsrepr([task.envelope]),
                kwargsrepr=task_kwargsrepr({}),
                headers=headers,
            )

    def close(self) -> None:
        """Free every loop's connection (the loops have stopped)."""
        with self._lock:
            producers, self._producers = self._producers, set()
        for producer in producers:
            producer.connection.collect()

    def _drop_connection(self) -> None:
        producer = getattr(self._local, "producer", None)
        self._local.producer = None
        if producer is not None:
            with self._lock:
                self._producers.discard(producer)
            # collect() frees the connection without talking to a broker that may be gone.
            producer.connection.collect()
