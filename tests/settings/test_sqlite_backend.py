"""On SQLite, a transaction that finds the write lock taken tries again in fine steps (its BEGIN
polls the lock) instead of sleeping SQLite's 1, 2, 5, 10 ms steps, and still gives up with
"database is locked" after the connection's timeout; other statements keep SQLite's own wait.
A connection outlives the request or task that opened it, as on PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import OperationalError, connections, transaction
from django.db.utils import ConnectionHandler

from devstack.processes import wait_until
from shared_settings.base import database
from shared_settings.sqlite.base import DatabaseWrapper

#: Retries seen while the lock is held before the test lets go of it.
RETRIES_SEEN = 3


def settings_for(path: Path, timeout: float) -> dict[str, Any]:
    """The services' SQLite settings (shared_settings/base.py) for the file `path`, completed as
    Django completes DATABASES."""
    settings = database("NO_SUCH_DATABASE_URL", "unused.sqlite3")
    settings.update(NAME=path, OPTIONS={**settings["OPTIONS"], "timeout": timeout})
    return ConnectionHandler({"default": settings}).settings["default"]


class Connection:
    """A connection of this thread under `alias`, as `transaction.atomic(using=alias)` finds it."""

    def __init__(self, alias: str, path: Path, timeout: float) -> None:
        self.alias = alias
        self.wrapper = DatabaseWrapper(settings_for(path, timeout), alias)

    def __enter__(self) -> DatabaseWrapper:
        connections[self.alias] = self.wrapper
        return self.wrapper

    def __exit__(self, *exc_info: object) -> None:
        self.wrapper.close()
        del connections[self.alias]


@pytest.fixture
def database_file(tmp_path: Path, django_db_blocker: Any) -> Iterator[Path]:
    path = tmp_path / "lock.sqlite3"
    with django_db_blocker.unblock():
        with Connection("lock-setup", path, 5) as setup, setup.cursor() as cursor:
            cursor.execute("CREATE TABLE item (n INTEGER)")
        yield path


def test_the_services_use_this_backend_on_sqlite():
    assert database("NO_SUCH_DATABASE_URL", "unused.sqlite3")["ENGINE"] == "shared_settings.sqlite"


def test_a_transaction_polls_a_taken_write_lock_and_begins_once_it_is_free(database_file):
    waiting: list[DatabaseWrapper] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        try:
            with Connection("lock-waiter", database_file, 20) as waiter:
                waiting.append(waiter)
                with transaction.atomic(using="lock-waiter"), waiter.cursor() as cursor:
                    cursor.execute("INSERT INTO item VALUES (2)")
            done.set()
        except BaseException as exc:
            errors.append(exc)

    with Connection("lock-holder", database_file, 20) as holder, holder.cursor() as cursor:
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute("INSERT INTO item VALUES (1)")
        thread = threading.Thread(target=write)
        thread.start()
        # SQLite's own busy handler waits inside one BEGIN: no retry would be seen from here.
        retried = lambda: errors or (waiting and waiting[0].lock_retries >= RETRIES_SEEN)  # noqa: E731
        wait_until(retried, timeout=10, what="the waiting BEGIN retried")
        assert not done.is_set()
        cursor.execute("COMMIT")
        thread.join(30)
        assert not errors, errors
        assert done.is_set()
        cursor.execute("SELECT n FROM item ORDER BY n")
        assert [row[0] for row in cursor.fetchall()] == [1, 2]


def test_a_write_lock_held_past_the_timeout_is_still_database_is_locked(database_file):
    with (
        Connection("lock-holder", database_file, 5) as holder,
        Connection("lock-waiter", database_file, 0.05) as waiter,
        holder.cursor() as held,
    ):
        held.execute("BEGIN IMMEDIATE")
        locked = pytest.raises(OperationalError, match="database is locked")
        with locked, transaction.atomic(using="lock-waiter"):
            pass
        held.execute("COMMIT")
        assert waiter.lock_retries > 0
        # Every other statement keeps the connection's own busy timeout.
        with waiter.cursor() as cursor:
            cursor.execute("PRAGMA busy_timeout")
            assert cursor.fetchone()[0] == 50


def test_a_connection_is_kept_after_a_request_or_task(database_file):
    with Connection("kept", database_file, 5) as kept, kept.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM item")
        opened = kept.connection
        # What close_old_connections does at the end of each request and around each task.
        kept.close_if_unusable_or_obsolete()
        assert kept.connection is opened
