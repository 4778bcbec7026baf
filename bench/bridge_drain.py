"""bridge_drain: the bridge's drain rate (received -> tasks in Redis -> hand-off recorded -> deleted)
vs a raw receive+delete loop.

The bridge runs as run_bridge builds it, with its hand-off record on the users database
(PostgreSQL when BENCH_POSTGRES_URL answers, else SQLite); the same bridge without the record is
measured in the same rounds (`params.no_handoff_rates`), which shows what the record costs.

Same emulator (LocalStack, natively), same queue contents (SNS-wrapped user.updated
events), same number of threads, each thread with a boto3 client of its own on both sides
(the same client factory, events.aws.client); the drains alternate, in an order that turns round
by round, so that load drifts hit both. The machine is shared, so CPU per message
is reported too: the bench process alone (the client side) and with its children
(LocalStack and Redis).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from typing import Any

from bench._bridge_setup import bridge_drain, fill, raw_drain, rig, sns_wrapped, user_updated
from bench._databases import BenchDatabases
from bench.common import cpu_seconds, emit, log, median, result

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def measured(drain: Callable[[], float]) -> tuple[float, float, float]:
    """(events/s, client CPU ms per event, client + emulator + Redis CPU ms per event)."""
    me = os.getpid()
    client, everything = cpu_seconds(me, descendants=False), cpu_seconds(me)
    seconds = drain()
    client = cpu_seconds(me, descendants=False) - client
    everything = cpu_seconds(me) - everything
    return EVENTS / seconds, 1000 * client / EVENTS, 1000 * everything / EVENTS


def handoff_log(databases: BenchDatabases) -> Any:
    """The users service's hand-off log on a throw-away users database, migrated."""
    os.environ["VAR_DIR"] = tempfile.mkdtemp(prefix="bench-drain-")
    if url := databases.url("users"):
        os.environ["USERS_DATABASE_URL"] = url
    os.environ["DJANGO_SETTINGS_MODULE"] = "users_service.settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from users_service.bridge.handoff import DatabaseHandOffLog

    return DatabaseHandOffLog()


def main() -> None:
    databases = BenchDatabases.postgres_or_sqlite()
    try:
        with rig() as r:
            run(r, handoff_log(databases), databases.engine)
    finally:
        databases.drop()


def run(r: Any, handoffs: Any, engine: str) -> None:
    raw: list[tuple[float, float, float]] = []
    bridge: list[tuple[float, float, float]] = []
    bare: list[tuple[float, float, float]] = []

    def drain_raw() -> None:
        fill(r, [sns_wrapped(r.top, user_updated()) for _ in range(EVENTS)])
        raw.append(measured(lambda: raw_drain(r, EVENTS, THREADS)))

    def drain_bare() -> None:
        fill(r, [sns_wrapped(r.top, user_updated()) for _ in range(EVENTS)])
        r.flush_broker()
        bare.append(measured(lambda: bridge_drain(r, EVENTS, THREADS)))

    def drain_bridge() -> None:
        fill(r, [sns_wrapped(r.top, user_updated()) for _ in range(EVENTS)])
        r.flush_broker()
        bridge.append(measured(lambda: bridge_drain(r, EVENTS, THREADS, handoffs)))

    for round_ in range(ROUNDS):
        # The order turns round by round, so that a drift in the machine's load within a round
        # does not always favour the same side.
        for drain in (
            (drain_raw, drain_bare, drain_bridge)
            if round_ % 2 == 0
            else (drain_bridge, drain_bare, drain_raw)
        ):
            drain()
        log(
            f"round {round_ + 1}: raw {raw[-1][0]:.0f}/s ({raw[-1][1]:.2f} ms CPU/event client side), "
            f"bridge {bridge[-1][0]:.0f}/s ({bridge[-1][1]:.2f} ms CPU/event client side), "
            f"without the hand-off record {bare[-1][0]:.0f}/s"
        )
    bridge_cpu = median([b[1] for b in bridge])
    raw_cpu = median([b[1] for b in raw])
    emit(
        result(
            "bridge_drain",
            unit="events/s",
            value=median([b[0] for b in bridge]),
            baseline=median([b[0] for b in raw]),
            params={
                "emulator": r.emulator,
                "events_per_round": EVENTS,
                "threads": THREADS,
                "rounds": ROUNDS,
                "bridge_rates": [round(b[0], 1) for b in bridge],
                "raw_rates": [round(b[0], 1) for b in raw],
                # Each round's bridge against the raw drain run beside it (less exposed to load
                # drifts over the whole run than the ratio of the medians).
                "round_ratios": [round(b[0] / a[0], 3) for a, b in zip(raw, bridge, strict=True)],
                "bridge_client_cpu_ms_per_event": round(bridge_cpu, 3),
                "raw_client_cpu_ms_per_event": round(raw_cpu, 3),
                # What the ratio tends to when the bench process's CPU (one GIL) is the limit.
                "client_cpu_ratio": round(raw_cpu / bridge_cpu, 3),
                "bridge_total_cpu_ms_per_event": round(median([b[2] for b in bridge]), 3),
                "raw_total_cpu_ms_per_event": round(median([b[2] for b in raw]), 3),
                "no_handoff_rates": [round(b[0], 1) for b in bare],
                "handoff_database": engine,
                "baseline_is": "raw receive_message(10)+delete_message_batch loop, a client per thread",
            },
        )
    )


if __name__ == "__main__":
    main()
