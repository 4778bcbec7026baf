"""Where a marker string stands in the test database: the erase tests of both services look for
the person's marker in every cell of every table."""

from __future__ import annotations

from django.db import connection


def cells_holding(marker: str) -> set[str]:
    """`table.column` of every cell of every table whose text holds `marker` (a full dump)."""
    hits = set()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is not None and marker.lower() in str(value).lower():
                        hits.add(f"{table}.{column}")
    return hits
