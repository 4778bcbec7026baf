"""bridge_drain: the bridge's drain rate (received -> tasks in Redis -> deleted) vs a raw receive+delete loop.

Same emulator (LocalStack, natively), same queue contents (SNS-wrapped user.updated
events), same number of threads; rounds alternate so that load drifts hit both.
"""

from __future__ import annotations

import os

from bench._bridge_setup import bridge_drain, fill, raw_drain, rig, sns_wrapped, user_updated
from bench.common import emit, log, median, result

EVENTS = int(os.environ.get("BENCH_EVENTS", "2000"))
THREADS = int(os.environ.get("BENCH_THREADS", "4"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def main() -> None:
    with rig() as r:
        raw_rates, bridge_rates = [], []
        for round_ in range(ROUNDS):
            bodies = [sns_wrapped(r.top, user_updated()) for _ in range(EVENTS)]
            fill(r, bodies)
            raw_rates.append(EVENTS / raw_drain(r, EVENTS, THREADS))
            fill(r, bodies)
            r.flush_broker()
            bridge_rates.append(EVENTS / bridge_drain(r, EVENTS, THREADS))
            log(f"round {round_ + 1}: raw {raw_rates[-1]:.0f}/s, bridge {bridge_rates[-1]:.0f}/s")
        emit(
            result(
                "bridge_drain",
                unit="events/s",
                value=median(bridge_rates),
                baseline=median(raw_rates),
                params={
                    "emulator": r.emulator,
                    "events_per_round": EVENTS,
                    "threads": THREADS,
                    "rounds": ROUNDS,
                    "bridge_rates": [round(x, 1) for x in bridge_rates],
                    "raw_rates": [round(x, 1) for x in raw_rates],
                    "baseline_is": "raw receive_message(10)+delete_message_batch loop, same threads",
                },
            )
        )


if __name__ == "__main__":
    main()
