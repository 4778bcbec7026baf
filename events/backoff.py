"""The project's one backoff policy: exponential growth from `base`, capped, with "equal jitter".

Every retry loop takes its delays from here: the relay while SNS refuses, the bridge's
receive loops and the visibility of a message left for redelivery, and Celery task
retries. Equal jitter (between half and all of the ceiling) keeps many loops from
retrying in lockstep without ever retrying at once after a failure.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

#: Bounds the exponent, so that a long outage cannot overflow the float.
_MAX_EXPONENT = 32


@dataclass(frozen=True)
class Backoff:
    """`delay(n)` after the n-th failure in a row (n >= 1): in [ceiling / 2, ceiling],
    where ceiling = min(cap, base * 2**(n - 1))."""

    base: float
    cap: float

    def ceiling(self, attempt: int) -> float:
        if attempt <= 0:
            return 0.0
        return min(self.cap, self.base * 2 ** min(attempt - 1, _MAX_EXPONENT))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def redelivery_delay(receive_count: int, *, base: float = 1.0, cap: float = 60.0) -> int:
    """Visibility (whole seconds, SQS's unit) for a message left after a transient failure.

    Grows with `ApproximateReceiveCount` so that a long outage does not spin every
    message through a receive each second, and at least 1 s so SQS does not hand it
    straight back to the loop that is backing off.
    """
    return max(1, round(Backoff(base=base, cap=cap).delay(max(receive_count, 1))))
