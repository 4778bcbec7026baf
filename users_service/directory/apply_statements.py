"""The two SQL statements that apply an event: an insert that ignores a duplicate, and an upsert
that only moves a row forward in version. Both run on PostgreSQL and SQLite (>= 3.24, upsert).
Beside them, the multi-row form of the first, for the bridge's hand-off records: on PostgreSQL
its rows travel as one JSON parameter (`jsonb_to_recordset`), so that its text is the same
whatever the number of rows.

The ORM would need a savepoint and an IntegrityError for the first, and get_or_create, a
`SELECT … FOR UPDATE` and a save for the second: 8-9 statements an event instead of 4
(measured in README "Throughput"). `ON CONFLICT` also settles a concurrent insert of the same
row inside the database: the second writer waits for the first and then sees its row.
"""

from __future__ import annotations

import datetime
import functools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connection, models


def _insert(model: type[models.Model], rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[str], list[Any]]:
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
    """One INSERT … ON CONFLICT (conflict_fields) DO NOTHING for every row; how many were inserted.

    Django's `bulk_create(ignore_conflicts=True)` builds the same statement, but on PostgreSQL it
    sends the rows as arrays (`UNNEST`), whose text escaping cost more CPU than the write itself
    (bench/bridge_drain). `VALUES (%s, …), (…)` was no better there: one parameter per column and
    row, and past 50 parameters psycopg parses the statement again at each call. On PostgreSQL the
    rows go as one JSON document instead, encoded once, under a statement whose text never changes.
    Every row names the same fields.
    """
    if not rows:
        return 0
    if connection.vendor == "postgresql":
        names = tuple(rows[0])
        sql, columns = _insert_from_json_sql(model, names, conflict_fields)
        document = [{column: row[name] for name, column in zip(names, columns, strict=True)} for row in rows]
        params: list[Any] = [
            json.dumps(document, separators=(",", ":"), ensure_ascii=False, default=_json_scalar)
        ]
    else:
        insert, _, params = _insert(model, rows)
        sql = f"{insert} ON CONFLICT ({', '.join(_quoted(model, conflict_fields))}) DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


@functools.lru_cache(maxsize=8)
def _insert_from_json_sql(
    model: type[models.Model], names: tuple[str, ...], conflict_fields: tuple[str, ...]
) -> tuple[str, tuple[str, ...]]:
    """`INSERT INTO <table> (<columns>) SELECT … FROM jsonb_to_recordset(%s) … ON CONFLICT … DO
    NOTHING`: PostgreSQL reads the rows, typed by the model's columns, from one JSON array (a JSON
    field's value nested as it is). Built once per set of columns (building it cost as much CPU
    as the rest of the bridge's insert), with the JSON keys each field's value goes under."""
    fields = [model._meta.get_field(name) for name in names]
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    record = ", ".join(
        f"{connection.ops.quote_name(field.column)} {field.db_type(connection)}" for field in fields
    )
    table = connection.ops.quote_name(model._meta.db_table)
    conflict = ", ".join(_quoted(model, conflict_fields))
    # Reviewed (S608): identifiers come from the model's meta and are quoted; the rows are a parameter.
    sql = (
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM jsonb_to_recordset(%s::jsonb) "  # noqa: S608
        f"AS r({record}) ON CONFLICT ({conflict}) DO NOTHING"
    )
    return sql, tuple(field.column for field in fields)


def _json_scalar(value: Any) -> str:
    """What JSON lacks, in the text PostgreSQL reads back into the column's type."""
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} has no JSON form for a row")


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


def upsert_once(
    model: type[models.Model],
    values: Mapping[str, Any],
    *,
    inbox: type[models.Model],
    inbox_values: Mapping[str, Any],
    inbox_conflict_fields: tuple[str, ...],
    outcome_field: str,
    applied: str,
    stale: str,
) -> str | None:
    """PostgreSQL: `upsert_if_newer` and the inbox row in one statement; the outcome the inbox row
    was written with (`applied` if the upsert wrote, else `stale`), or None if the inbox row was
    there already (a duplicate, whose upsert wrote nothing either).

    The upsert comes first: for a duplicate it finds the version of the first delivery (or a newer
    one; versions never go down) and writes nothing, and the inbox insert then finds the first's
    row. Two copies delivered at once meet on the record's row lock: the second waits for the
    first to commit, finds its version, and its inbox insert finds its row. One statement is
    atomic on its own: no transaction block, one round trip instead of four (BEGIN, inbox, upsert,
    COMMIT), and a stale event no longer costs a fifth.
    """
    sql = _upsert_once_sql(
        model, tuple(values), inbox, tuple(inbox_values), outcome_field, inbox_conflict_fields
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*_prepared(model, values), *_prepared(inbox, inbox_values), applied, stale])
        row = cursor.fetchone()
    return row[0] if row else None


def _prepared(model: type[models.Model], values: Mapping[str, Any]) -> list[Any]:
    return [model._meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]


@functools.lru_cache(maxsize=8)
def _upsert_once_sql(
    model: type[models.Model],
    names: tuple[str, ...],
    inbox: type[models.Model],
    inbox_names: tuple[str, ...],
    outcome_field: str,
    conflict_fields: tuple[str, ...],
) -> str:
    """The text of `upsert_once`'s statement, built once per set of columns."""
    table = connection.ops.quote_name(model._meta.db_table)
    inbox_table = connection.ops.quote_name(inbox._meta.db_table)
    columns = _quoted(model, names)
    pk = connection.ops.quote_name(model._meta.pk.column)
    version, erased = _quoted(model, ("version", "erased"))
    assignments = ", ".join(f"{column} = excluded.{column}" for column in columns if column != pk)
    inbox_columns = [*_quoted(inbox, inbox_names), *_quoted(inbox, (outcome_field,))]
    holders = ", ".join(["%s"] * len(names))
    inbox_holders = ", ".join(["%s"] * len(inbox_names))
    conflict = ", ".join(_quoted(inbox, conflict_fields))
    # Reviewed (S608): identifiers come from the models' meta and are quoted; values are parameters.
    return (
        f"WITH record AS (INSERT INTO {table} ({', '.join(columns)}) VALUES ({holders}) "  # noqa: S608
        f"ON CONFLICT ({pk}) DO UPDATE SET {assignments} "
        f"WHERE {table}.{version} < excluded.{version} AND NOT {table}.{erased} RETURNING 1), "
        f"entry AS (INSERT INTO {inbox_table} ({', '.join(inbox_columns)}) "
        f"VALUES ({inbox_holders}, CASE WHEN EXISTS (SELECT 1 FROM record) THEN %s ELSE %s END) "
        f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {inbox_columns[-1]}) "
        "SELECT * FROM entry"
    )
