"""How the long-running commands of both services stop (the relay, the purge, the backfill, the
bridge): SIGTERM or SIGINT sets a flag that the command checks between steps, so the step in hand
(a batch, a transaction) always finishes."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def stop_on_signals(on_signal: Callable[[int], object] | None = None) -> Iterator[threading.Event]:
    """An event that SIGTERM or SIGINT sets while the block runs (after `on_signal(signum)`, when
    given); the previous handlers come back after it."""
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if on_signal is not None:
            on_signal(signum)
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in STOP_SIGNALS}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
