"""Backoff policies of the bridge: full-jitter exponential delays with a cap (sqs-workers' shape)."""

from __future__ import annotations

import random


def full_jitter(attempt: int, *, base: float, cap: float) -> float:
    """A random delay in [0, min(cap, base * 2**attempt)]: spreads retries of many loops apart."""
    return random.uniform(0, min(cap, base * 2 ** min(max(attempt, 0), 16)))


def redelivery_delay(receive_count: int, *, base: float = 1.0, cap: float = 60.0) -> int:
    """Visibility (whole seconds, SQS's unit) for a message left after a transient failure.

    Grows with `ApproximateReceiveCount` so that a long outage does not spin every
    message through a receive each second, and at least 1 s so SQS does not hand it
    straight back to the loop that is backing off.
    """
    ceiling = min(cap, base * 2 ** min(max(receive_count - 1, 0), 16))
    return max(1, round(ceiling * random.uniform(0.5, 1.0)))
