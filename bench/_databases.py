"""Throw-away databases for the benchmarks on the PostgreSQL server named by BENCH_POSTGRES_URL
(an admin URL; default postgres://postgres@127.0.0.1:5432/postgres): uniquely named, dropped after."""

from __future__ import annotations

import os
import uuid

import psycopg

ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def postgres_answers() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


def _admin(sql: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as connection:
        connection.execute(sql)


class BenchDatabases:
    """Databases named `<service>_bench_<suffix>`, created on first use and dropped by `drop()`; with
    `sqlite` (no PostgreSQL answers) `url()` is "" and each service keeps its SQLite file."""

    def __init__(self, *, suffix: str | None = None, sqlite: bool = False) -> None:
        self.suffix = suffix or uuid.uuid4().hex[:10]
        self.engine = "sqlite" if sqlite else "postgresql"
        self.created: list[str] = []

    @classmethod
    def postgres_or_sqlite(cls) -> BenchDatabases:
        return cls(sqlite=not postgres_answers())

    def name(self, service: str) -> str:
        return f"{service}_bench_{self.suffix}"

    def url(self, service: str) -> str:
        if self.engine == "sqlite":
            return ""
        name = self.name(service)
        if name not in self.created:
            _admin(f'CREATE DATABASE "{name}"')
            self.created.append(name)
        return ADMIN_URL.rsplit("/", 1)[0] + "/" + name

    def drop(self) -> None:
        for name in self.created:
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
