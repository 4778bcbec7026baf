"""The two SQL statements that apply an event: an insert that ignores a duplicate, and an upsert
that only moves a row forward in version. Both run on PostgreSQL and SQLite (>= 3.24, upsert).
Beside them, the multi-row form of the first, for the bridge's hand-off records.

The ORM would need a savepoint and an IntegrityError for the first, and get_or_create, a
`SELECT … FOR UPDATE` and a save for the second: 8-9 statements an event instead of 4
(measured in README "Throughput"). `ON CONFLICT` also settles a concurrent insert of the same
row inside the database: the second writer waits for the first and then sees its row.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models


def _insert(
    model: type[models.Model], rows: Sequence[Mapping[str, Any]]
) -> tuple[str, list[str], list[Any]]:
    """`INSERT INTO <table> (<columns>) VALUES (%s, …), …`, its quoted columns and its parameters.

    Every row names the same fields, in the same order.
    """
    fields = {name: model._meta.get_field(name) for name in rows[0]}
    columns = [connection.ops.quote_name(field.column) for field in fields.values()]
    params = [field.get_db_prep_save(row[name], connection) for row in rows for name, field in fields.items()]
    table = connection.ops.quote_name(model._meta.db_table)
    values = ", ".join([f"({', '.join(['%s'] * len(columns))})"] * len(rows))
    # Reviewed (S608): identifiers come from the model's meta and are quoted; values are parameters.
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}", columns, params  # noqa: S608


def _quoted(model: type[models.Model], names: Iterable[str]) -> list[str]:
    return [connection.ops.quote_name(model._meta.get_field(name).column) for name in names]


def _one_row(sql: str, params: list[Any]) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def insert_unless_exists(
    model: type[models.Model], values: Mapping[str, Any], *, conflict_fields: tuple[str, ...]
) -> bool:
    """INSERT … ON CONFLICT (conflict_fields) DO NOTHING; True if the row was inserted."""
    insert, _, params = _insert(model, [values])
    return _one_row(f"{insert} ON CONFLICT ({', '.join(_quoted(model, conflict_fields))}) DO NOTHING", params)


def insert_many_unless_exist(
    model: type[models.Model], rows: Sequence[Mapping[str, Any]], *, conflict_fields: tuple[str, ...]
) -> int:
    """One INSERT … VALUES (…), (…) ON CONFLICT (conflict_fields) DO NOTHING; how many were inserted.

    Django's `bulk_create(ignore_conflicts=True)` builds the same statement, but on PostgreSQL it
    sends the rows as arrays (`UNNEST`), whose text escaping cost more CPU than the write itself
    (bench/bridge_drain). Every row names the same fields.
    """
    if not rows:
        return 0
    insert, _, params = _insert(model, rows)
    conflict = ", ".join(_quoted(model, conflict_fields))
    with connection.cursor() as cursor:
        cursor.execute(f"{insert} ON CONFLICT ({conflict}) DO NOTHING", params)
        return cursor.rowcount


def upsert_if_newer(model: type[models.Model], values: Mapping[str, Any]) -> bool:
    """Insert the row, or overwrite it only if its `version` is lower and it is not `erased`.

    `values` holds the primary key, `version`, `erased` and every column to write. True if the
    row was inserted or updated; False if an equal or newer version (or a tombstone) is there.
    """
    insert, columns, params = _insert(model, [values])
    table = connection.ops.quote_name(model._meta.db_table)
    pk = connection.ops.quote_name(model._meta.pk.column)
    version, erased = _quoted(model, ("version", "erased"))
    assignments = ", ".join(f"{column} = excluded.{column}" for column in columns if column != pk)
    return _one_row(
        f"{insert} ON CONFLICT ({pk}) DO UPDATE SET {assignments} "
        f"WHERE {table}.{version} < excluded.{version} AND NOT {table}.{erased}",
        params,
    )
