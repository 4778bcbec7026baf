"""bridge_peers: the bridge vs its peers on the same events and the same emulator (LocalStack, natively).

1. the bridge, 4 loops: SQS -> tasks accepted by Redis -> deleted (workers apply them in parallel);
2. the old design: one listener thread that applies each event inline to the users
   service's read model (the real apply service on SQLite), then deletes the batch;
3. Celery consuming SQS itself through kombu's SQS transport (pycurl). It cannot read
   SNS events (it deletes any non-Celery message it receives), so a user would have to
   publish Celery task messages instead: the benchmark measures that publish and the
   worker's drain (4 threads, a no-op task, so it is its transport ceiling).
Value = the bridge's rate; baseline = the inline listener; the Celery-on-SQS figures
and ratios are in params.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time

from bench._bridge_setup import Rig, bridge_drain, fill, rig, sns_wrapped, user_updated
from bench.common import emit, log, result

EVENTS = int(os.environ.get("BENCH_EVENTS", "1000"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))


def setup_users_service() -> None:
    """The users service's Django on a throw-away SQLite database (for the inline listener's handler)."""
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-peers-")
    os.environ["DJANGO_SETTINGS_MODULE"] = "users_service.settings"
    os.environ.setdefault("LOG_LEVEL", "WARNING")  # per-task INFO lines would cost the peers CPU
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def inline_listener(r: Rig, count: int) -> float:
    """The old design: one thread; receive 10, apply each event inline, delete the batch."""
    from users_service.directory import services

    sqs = r.sqs()
    bridge = r.bridge(sqs)  # only for its intake (unwrap + topic check + validation), same as the bridge
    handled = 0
    started = time.perf_counter()
    while handled < count:
        messages = sqs.receive_message(
            QueueUrl=r.top.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            envelope = bridge.intake.envelope(message["Body"])
            services.apply_user_event(envelope=envelope.to_dict(), task_name="directory.apply_user_event")
        if messages:
            sqs.delete_message_batch(
                QueueUrl=r.top.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
            handled += len(messages)
    return time.perf_counter() - started


def celery_on_sqs(r: Rig, envelopes: list[dict]) -> dict:
    """Publish the events as Celery tasks to SQS, then drain them with a worker on kombu's SQS transport."""
    try:
        import pycurl  # noqa: F401 - kombu's SQS transport needs it
    except ImportError as exc:
        return {"available": False, "why": f"pycurl cannot be imported: {exc}"}
    from celery import Celery
    from celery.contrib.testing.worker import start_worker

    host = r.aws.endpoint_url.split("://", 1)[1]
    app = Celery("peers", broker=f"sqs://test:test@{host}")
    app.conf.update(
        broker_transport_options={"region": "us-east-1", "is_secure": False, "wait_time_seconds": 1},
        task_serializer="json",
        accept_content=["json"],
        task_default_queue="celery-peers-bench",
        worker_prefetch_multiplier=10,
        broker_connection_retry_on_startup=True,
    )
    done = threading.Event()
    executed = [0]
    first_run: list[float] = []
    lock = threading.Lock()

    @app.task(name="bench.apply_user_event")
    def apply_user_event(envelope: dict) -> None:
        with lock:
            if not first_run:
                first_run.append(time.perf_counter())
            executed[0] += 1
            if executed[0] >= len(envelopes):
                done.set()

    started = time.perf_counter()
    for envelope in envelopes:
        apply_user_event.apply_async(args=[envelope], task_id=f"{envelope['event_id']}:bench")
    publish_seconds = time.perf_counter() - started
    log(f"celery on SQS: published {len(envelopes)} tasks at {len(envelopes) / publish_seconds:.0f}/s")

    with start_worker(app, pool="threads", concurrency=THREADS, perform_ping_check=False, loglevel="WARNING"):
        started = time.perf_counter()
        finished = done.wait(120)
        ended = time.perf_counter()
        drain_seconds = ended - started
    if not finished:
        return {"available": True, "error": f"only {executed[0]} of {len(envelopes)} tasks ran in 120 s"}
    return {
        "available": True,
        "publish_rate": round(len(envelopes) / publish_seconds, 1),
        "drain_rate": round((len(envelopes) - 1) / (ended - first_run[0]), 1),
        "drain_rate_with_startup": round(len(envelopes) / drain_seconds, 1),
        "note": "drain_rate: first task run to last; no-op task; Celery task messages, not SNS events",
    }


def main() -> None:
    setup_users_service()
    with rig() as r:
        envelopes = [user_updated() for _ in range(EVENTS)]
        bodies = [sns_wrapped(r.top, e) for e in envelopes]

        fill(r, bodies)
        r.flush_broker()
        bridge_rate = EVENTS / bridge_drain(r, EVENTS, THREADS)
        log(f"bridge ({THREADS} loops): {bridge_rate:.0f} events/s into Redis")

        fill(r, bodies)
        inline_rate = EVENTS / inline_listener(r, EVENTS)
        log(f"inline listener (1 thread, applies each event): {inline_rate:.0f} events/s")

        celery_sqs = celery_on_sqs(r, [e.to_dict() for e in envelopes])
        log(f"celery on SQS: {celery_sqs}")
        drain = celery_sqs.get("drain_rate")
        emit(
            result(
                "bridge_peers",
                unit="events/s",
                value=bridge_rate,
                baseline=inline_rate,
                params={
                    "emulator": r.emulator,
                    "events": EVENTS,
                    "bridge_threads": THREADS,
                    "inline_listener_rate": round(inline_rate, 1),
                    "celery_sqs_transport": celery_sqs,
                    "ratio_vs_celery_sqs_drain": round(bridge_rate / drain, 3) if drain else None,
                    "baseline_is": "1 listener thread applying each event inline (apply service, SQLite)",
                    "value_is": "bridge: events received -> tasks accepted by Redis -> deleted",
                },
            )
        )


if __name__ == "__main__":
    main()
