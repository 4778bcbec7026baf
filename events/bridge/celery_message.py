"""Publishing one task name to one queue many times: the message `app.send_task` builds, without
working out at every call what never changes between calls.

For every task, `send_task` looks the task up in the registry, merges its options, asks the
router, reads a dozen settings and works out the exchange, the delivery mode and the serializer;
then it builds the message (`app.amqp.as_task_v2`), sends `before_task_publish`, publishes it with
kombu and sends `after_task_publish`. For the bridge, which publishes the same few task names to
the same queues all day, the first part was about a third of the publish's CPU, the Redis round
trip included (bench/_profile_bridge.py). `TaskDestination` does it once per task name and queue
with the same Celery pieces, and keeps the second part as Celery does it: the same message
builder, the same signals with the same arguments (the metrics' queued-at stamp, the value-free
argument reprs and OpenTelemetry's publish span hang on them), the same `Producer.publish` call.

Where a task's options or route take a path this does not cover (an expiry, time limits, a
non-direct exchange, task-sent events), `resolve` returns None and the caller uses `send_task`.
tests/events/bridge/test_celery_message.py compares the two messages field by field and has a
real worker run tasks published this way.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from celery import signals
from celery.app.task import extract_exec_options
from kombu import Producer

from events.bridge.routing import TaskMessage
from events.task_repr import task_argsrepr, task_kwargsrepr

#: send_task options that `Producer.publish` does not take as message properties.
_PUBLISH_OPTIONS = frozenset(
    {"exchange", "routing_key", "exchange_type", "delivery_mode", "serializer", "compression", "retry_policy"}
)
#: Options `TaskDestination` does not reproduce: send_task handles these tasks.
_NOT_COVERED = frozenset({"expires", "time_limit", "soft_time_limit", "eta", "countdown"})


@dataclass(frozen=True)
class TaskDestination:
    """How `send_task` publishes task `name` to its queue, worked out once (`resolve`)."""

    name: str
    exchange: str
    routing_key: str
    serializer: str
    compression: str | None
    delivery_mode: Any
    #: What send_task passes on as message properties from the task's options and route (a priority).
    properties: Mapping[str, Any]
    #: Handed to the `before_task_publish` receivers, as send_task does (no retry here: retry=False).
    retry_policy: Mapping[str, Any]

    @classmethod
    def resolve(cls, app: Any, name: str, queue: str) -> TaskDestination | None:
        """What `app.send_task(name, queue=queue, ...)` works out before building the message, or
        None when it takes a path this class does not cover. A router that routes by a task's
        arguments is asked with none (the bridge's routes name a queue per task name)."""
        conf = app.conf
        if conf.task_send_sent_event or conf.task_protocol != 2:
            return None
        # send_task looks in the registry without finalizing the app; so does this (`app.tasks` would).
        task_type = app.tasks.get(name) if app.finalized else None
        options: dict[str, Any] = {}
        if task_type is not None:
            options = {k: v for k, v in extract_exec_options(task_type).items() if v is not None}
        options["queue"] = queue
        options = app.amqp.router.route(options, name, (), {}, task_type)
        if _NOT_COVERED & options.keys():
            return None
        destination = options.pop("queue")
        exchange_type = options.get("exchange_type") or destination.exchange.type
        if exchange_type != "direct" or (options.get("exchange") and options.get("routing_key")):
            return None  # not the anonymous direct exchange (queue name = routing key)
        return cls(
            name=name,
            exchange="",
            routing_key=destination.name,
            serializer=options.get("serializer") or conf.task_serializer,
            compression=options.get("compression") or conf.task_compression,
            delivery_mode=(
                options.get("delivery_mode")
                or destination.exchange.delivery_mode
                or conf.task_default_delivery_mode
            ),
            properties={k: v for k, v in options.items() if k not in _PUBLISH_OPTIONS},
            retry_policy=dict(conf.task_publish_retry_policy or {}),
        )

    def publish(
        self, app: Any, producer: Producer, task: TaskMessage, headers: Mapping[str, Any] | None
    ) -> None:
        """Build the task's message as send_task does and publish it through `producer`."""
        args = [task.envelope]
        # Celery would saferepr() the whole envelope into the headers: slow, and personal data.
        argsrepr, kwargsrepr = task_argsrepr(args), task_kwargsrepr({})
        message_headers, properties, body, _sent_event = app.amqp.as_task_v2(
            task.task_id,
            self.name,
            args,
            None,
            reply_to=app.thread_oid,
            ignore_result=None,
            argsrepr=argsrepr,
            kwargsrepr=kwargsrepr,
        )
        if headers:
            message_headers.update(headers)
        # send_task leaves every option it does not know in the properties, these two included.
        properties.update(self.properties, argsrepr=argsrepr, kwargsrepr=kwargsrepr)
        app.backend.on_task_call(producer, task.task_id)
        signals.before_task_publish.send(
            sender=self.name,
            body=body,
            exchange=self.exchange,
            routing_key=self.routing_key,
            declare=[],
            headers=message_headers,
            properties=properties,
            retry_policy=dict(self.retry_policy),
        )
        producer.publish(
            body,
            exchange=self.exchange,
            routing_key=self.routing_key,
            serializer=self.serializer,
            compression=self.compression,
            retry=False,
            delivery_mode=self.delivery_mode,
            # The anonymous direct exchange needs no declaration on Redis: the task goes to the
            # list named after the queue, which workers declare.
            declare=[],
            headers=message_headers,
            **properties,
        )
        signals.after_task_publish.send(
            sender=self.name,
            body=body,
            headers=message_headers,
            exchange=self.exchange,
            routing_key=self.routing_key,
        )
