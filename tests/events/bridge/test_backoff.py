"""The one backoff policy (events/backoff.py): delays after failures; how soon a refused message returns."""

from __future__ import annotations

import random

from events.backoff import Backoff, redelivery_delay


def test_ceiling_doubles_from_base_and_stops_at_the_cap():
    backoff = Backoff(base=0.5, cap=8.0)
    assert [backoff.ceiling(n) for n in range(7)] == [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff.ceiling(10_000) == 8.0


def test_delay_is_between_half_and_all_of_the_ceiling_and_spread():
    rng = random.Random(4)
    backoff = Backoff(base=1, cap=60)
    for attempt in range(1, 12):
        ceiling = backoff.ceiling(attempt)
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        # Jitter: many loops failing together do not retry in lockstep.
        assert len({round(d, 6) for d in delays}) > 100


def test_redelivery_delay_grows_with_the_receive_count_and_is_capped():
    first = [redelivery_delay(1) for _ in range(100)]
    fifth = [redelivery_delay(5) for _ in range(100)]
    late = [redelivery_delay(50, cap=60) for _ in range(100)]

    assert set(first) == {1}  # at least one second: never straight back to the loop backing off
    assert all(8 <= d <= 16 for d in fifth)
    assert all(30 <= d <= 60 for d in late)
