"""A liveness file for long-running processes: the main loop touches it, the container's health
check reads its age. A loop that hangs (a deadlock, a call without a timeout) stops touching it,
which a check of the ports its dependencies listen on would never see.

Pure Python, like the rest of `events/`: the relay, the bridge, the workers and beat share it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

#: Touch at most this often (seconds): a loop that turns a thousand times a second costs no syscalls.
MIN_INTERVAL = 1.0


class Liveness:
    """`beat()` from the loop that must keep turning; with no path it does nothing (the default
    outside containers)."""

    def __init__(self, path: str | os.PathLike[str] | None, *, min_interval: float = MIN_INTERVAL) -> None:
        self.path = Path(path) if path else None
        self.min_interval = min_interval
        self._last = float("-inf")

    def beat(self) -> None:
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._last < self.min_interval:
            return
        self._last = now
        try:
            self.path.touch()
        except OSError:
            # A full or missing tmpfs must not stop the work; the check then reports the process stale.
            self._last = float("-inf")


def seconds_since_beat(path: str | os.PathLike[str]) -> float | None:
    """Seconds since the last beat written to `path`; None when nothing was ever written."""
    try:
        return max(0.0, time.time() - Path(path).stat().st_mtime)
    except FileNotFoundError:
        return None


def is_alive(path: str | os.PathLike[str], max_age: float) -> bool:
    age = seconds_since_beat(path)
    return age is not None and age <= max_age
