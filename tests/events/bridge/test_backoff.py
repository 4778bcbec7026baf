"""Backoff: a loop's delay after transient failures, and how soon a refused message comes back."""

from __future__ import annotations

from events.backoff import full_jitter, redelivery_delay


def test_full_jitter_stays_between_zero_and_the_growing_capped_ceiling():
    for attempt, ceiling in [(0, 0.25), (1, 0.5), (3, 2.0), (20, 30.0)]:
        delays = [full_jitter(attempt, base=0.25, cap=30.0) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # it is spread, not stuck at zero


def test_redelivery_delay_grows_with_the_receive_count_and_is_capped():
    first = [redelivery_delay(1) for _ in range(100)]
    fifth = [redelivery_delay(5) for _ in range(100)]
    late = [redelivery_delay(50, cap=60) for _ in range(100)]

    assert set(first) == {1}  # at least one second: never straight back to the loop backing off
    assert all(8 <= d <= 16 for d in fifth)
    assert all(30 <= d <= 60 for d in late)
