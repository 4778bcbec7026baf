"""A migrated users database (SQLite) for the processes a test starts: `manage.py users migrate`
runs once per pytest run, into a template, and each test gets a copy of it. A migrate is a Django
start-up of its own (~4 s of CPU); the migrations write no data that depends on the environment."""

from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
from pathlib import Path

from devstack.stack import manage
from shared_settings.sqlite import USERS_SQLITE

_template: Path | None = None


def migrated_database(env: dict) -> None:
    """Give env's VAR_DIR a migrated users database; on PostgreSQL (USERS_DATABASE_URL), migrate it."""
    global _template
    if env.get("USERS_DATABASE_URL"):
        manage("users", "migrate", "--noinput", env=env)
        return
    if _template is None:
        directory = Path(tempfile.mkdtemp(prefix="users-migrated-"))
        atexit.register(shutil.rmtree, directory, True)
        manage("users", "migrate", "--noinput", env={**env, "VAR_DIR": str(directory)})
        _template = directory / USERS_SQLITE
    target = Path(env["VAR_DIR"]) / USERS_SQLITE
    target.parent.mkdir(parents=True, exist_ok=True)
    source, copy = sqlite3.connect(_template), sqlite3.connect(target)
    try:
        source.backup(copy)
    finally:
        copy.close()
        source.close()
