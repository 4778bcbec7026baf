"""Django's SQLite backend, except how a transaction waits for the write lock.

Every transaction here begins `IMMEDIATE` (it takes the database's one write lock at BEGIN), and
SQLite's own busy handler waits for that lock by sleeping 1, 2, 5, 10, 15, 20, 25 ... ms between
tries. Writers that meet hold the lock for a millisecond or two (the bridge's hand-off row and the
worker's apply of the same event, a few ms apart), so a writer that found it taken slept 3-8 ms for
a lock that was free after one: half of the idle events' applies did (bench/latency_idle).

This backend takes the lock itself: BEGIN with SQLite's busy timeout off, and on "database is
locked" a retry every `FINE_RETRY_SECONDS` for the first `FINE_WINDOW_SECONDS`, then every
`COARSE_RETRY_SECONDS`, until the connection's own timeout (the `timeout` option, which every other
statement keeps) has passed. A try costs some 10-20 µs of CPU.
"""

from __future__ import annotations

import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

#: The wait between two tries while the lock has been taken for a short time (a write's hold)...
FINE_RETRY_SECONDS = 0.00025
FINE_WINDOW_SECONDS = 0.02
#: ... and after that (a lock held for long, e.g. a bulk write, costs a try every 2 ms).
COARSE_RETRY_SECONDS = 0.002
#: SQLite's default busy timeout, when the `timeout` option is not given (Python's sqlite3: 5 s).
DEFAULT_TIMEOUT_SECONDS = 5.0


def is_locked(error: OperationalError) -> bool:
    return str(error).startswith("database is locked")


class DatabaseWrapper(base.DatabaseWrapper):
    #: Tries of BEGIN that found the write lock taken, since this connection object was made.
    lock_retries = 0

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode in (None, "DEFERRED"):
            # A deferred transaction takes no lock at BEGIN; its first write waits as SQLite does.
            super()._start_transaction_under_autocommit()
            return
        timeout = float(self.settings_dict["OPTIONS"].get("timeout", DEFAULT_TIMEOUT_SECONDS))
        busy_timeout_ms = int(timeout * 1000)
        started = time.monotonic()
        deadline = started + timeout
        with self.wrap_database_errors:
            self.connection.execute("PRAGMA busy_timeout = 0")
        try:
            while True:
                try:
                    self.cursor().execute(f"BEGIN {self.transaction_mode}")
                    return
                except OperationalError as error:
                    now = time.monotonic()
                    fine = now - started < FINE_WINDOW_SECONDS
                    delay = FINE_RETRY_SECONDS if fine else COARSE_RETRY_SECONDS
                    if not is_locked(error) or now + delay > deadline:
                        raise
                self.lock_retries += 1
                time.sleep(delay)
        finally:
            with self.wrap_database_errors:
                self.connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
