"""Publish bridge tasks to a Celery broker in one pipelined producer batch."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from typing import Any

from kombu.exceptions import KombuError, OperationalError
from redis.exceptions import RedisError

from events.bridge import TaskMessage
from events.errors import TransientError

#: Errors that mean "the broker did not take the batch, try again later".
BROKER_ERRORS = (OperationalError, KombuError, RedisError, ConnectionError, socket.timeout, OSError)


class CeleryTaskPublisher:
    """`TaskPublisher` on a Celery app: all tasks of a batch go out in one Redis pipeline.

    kombu's `Producer.batch` buffers the publishes and flushes them when the
    context exits; the flush returns only when Redis has accepted every task,
    which is what allows the bridge to delete the SQS messages afterwards.
    """

    def __init__(self, app: Any, *, max_batch: int = 1000) -> None:
        self.app = app
        self.max_batch = max_batch

    def publish(self, tasks: Sequence[TaskMessage]) -> None:
        try:
            with (
                self.app.producer_pool.acquire(block=True, timeout=10) as producer,
                producer.batch(max_size=self.max_batch),
            ):
                for task in tasks:
                    self.app.send_task(
                        task.task,
                        args=[task.envelope],
                        task_id=task.task_id,
                        queue=task.queue,
                        producer=producer,
                        retry=False,
                    )
        except BROKER_ERRORS as exc:
            raise TransientError(f"broker unavailable: {exc!r}") from exc
