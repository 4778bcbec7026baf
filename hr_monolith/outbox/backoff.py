"""Exponential backoff with full jitter and a cap, for the relay while SNS refuses."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """`delay(n)` after the n-th failure in a row: uniform in [0, min(cap, base * 2**(n-1))].

    Full jitter keeps several relays from retrying in lockstep when SNS comes back.
    """

    base: float = 0.5
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)

    def ceiling(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        # The exponent is bounded so that a long outage cannot overflow the float.
        return min(self.cap, self.base * 2 ** min(failures - 1, 32))

    def delay(self, failures: int) -> float:
        return self.rng.uniform(0, self.ceiling(failures))
