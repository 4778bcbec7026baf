"""Django's SQLite backend, except how a transaction waits for the write lock.

Every transaction here begins `IMMEDIATE` (it takes the database's one write lock at BEGIN), and
SQLite's own busy handler waits for that lock by sleeping 1, 2, 5, 10, 15, 20, 25 ... ms between
tries. Writers that meet hold the lock for a millisecond or two (the bridge's hand-off row and the
worker's apply of the same event, a few ms apart), so a writer that found it taken slept 3-8 ms for
a lock that was free after one: half of the idle events' applies did (bench/latency_idle).

This backend takes the lock itself: BEGIN with SQLite's busy timeout off, and on "database is
locked" another try after a quarter of the time waited so far (at least `MIN_RETRY_SECONDS`, at most
`MAX_RETRY_SECONDS`), until the connection's own timeout (the `timeout` option, which every other
statement keeps) has passed. A lock freed while a writer sleeps costs it at most a quarter more
than it had waited; a try costs some 20-40 µs of CPU, and a wait of a second some 100 tries.
"""

from __future__ import annotations

import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

#: The shortest and the longest wait between two tries of BEGIN; in between, a quarter of the
#: time waited so far.
MIN_RETRY_SECONDS = 0.00025
MAX_RETRY_SECONDS = 0.01
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
                    delay = min(MAX_RETRY_SECONDS, max(MIN_RETRY_SECONDS, (now - started) / 4))
                    if not is_locked(error) or now + delay > deadline:
                        raise
                self.lock_retries += 1
                time.sleep(delay)
        finally:
            with self.wrap_database_errors:
                self.connection.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
