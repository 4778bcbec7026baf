"""The relay's two statements of every pass: the claim (the pending rows due now, oldest first)
and the mark of the rows SNS accepted, without the ORM's compiling at each call.

Django compiles a queryset each time it is evaluated, and that took about as long as the query
itself on a quiet outbox (0.4-1 ms; profile of the relay in bench/e2e): the relay claims after
every pass, and at a steady rate a pass carries a few rows. The claim's SQL and parameters are
built from the same queryset once, and each claim only puts the current time in; the mark is
one UPDATE written out.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Q

from hr_monolith.outbox.models import OutboxEvent

#: Stands for "now" while the statement is compiled; found again in its parameters.
_NOW = datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC)


class PendingClaim:
    """`rows(now, lock=...)`: up to `batch_size` pending rows due at `now`, in id order; with
    `lock`, `FOR UPDATE SKIP LOCKED` (call it inside the transaction that marks them)."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size
        self._statements: dict[tuple[str, bool], tuple[str, list[Any], int]] = {}

    def rows(self, now: datetime.datetime, *, lock: bool) -> list[OutboxEvent]:
        sql, params, now_at = self._statement(lock)
        params = list(params)
        params[now_at] = connection.ops.adapt_datetimefield_value(now)
        return list(OutboxEvent.objects.raw(sql, params))

    def _statement(self, lock: bool) -> tuple[str, list[Any], int]:
        key = (connection.vendor, lock)
        if key not in self._statements:
            due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=_NOW)
            pending = OutboxEvent.objects.pending().filter(due).order_by("id")
            if lock:
                pending = pending.select_for_update(skip_locked=True)
            sql, params = pending[: self.batch_size].query.get_compiler(connection=connection).as_sql()
            params = list(params)
            self._statements[key] = (
                sql,
                params,
                params.index(connection.ops.adapt_datetimefield_value(_NOW)),
            )
        return self._statements[key]


def mark_sent(pks: Sequence[int], *, at: datetime.datetime, attempts: int) -> int:
    """One UPDATE: these rows sent at `at`, after `attempts` more publish attempts; how many changed."""
    if not pks:
        return 0
    meta, quote = OutboxEvent._meta, connection.ops.quote_name
    table = quote(meta.db_table)
    pk, sent_at, tries, next_attempt_at = (
        quote(meta.get_field(name).column) for name in ("id", "sent_at", "attempts", "next_attempt_at")
    )
    ids = ", ".join(["%s"] * len(pks))
    # Reviewed (S608): identifiers come from the model's meta and are quoted; values are parameters.
    sql = (
        f"UPDATE {table} SET {sent_at} = %s, {tries} = {tries} + %s, {next_attempt_at} = NULL "  # noqa: S608
        f"WHERE {pk} IN ({ids})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [connection.ops.adapt_datetimefield_value(at), attempts, *pks])
        return cursor.rowcount
